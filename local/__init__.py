"""The local stack: provider fakes and the runner that serves the template's functions over HTTP."""

"""Shared package of the payments API: settings, HTTP helpers, domain logic, data access, provider clients."""

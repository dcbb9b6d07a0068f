"""The template's functions as the local gateway serves them: routes, handlers, environment.

Everything is read from ``template.yaml``: a route added there is served here without a change."""

from __future__ import annotations

import importlib.util
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from local.template import ROOT, resources_of_type


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function: str
    authorized: bool
    pattern: re.Pattern[str] = field(compare=False)

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if self.method not in (method, "ANY"):
            return None
        found = self.pattern.fullmatch(path)
        return found.groupdict() if found else None


@dataclass(frozen=True)
class Schedule:
    function: str
    seconds: int


@dataclass
class LocalFunction:
    logical_id: str
    code_dir: Path
    handler: str
    environment: dict[str, str]
    memory_mb: int
    timeout_s: int
    layers: list[Path]
    _module: ModuleType | None = None

    def lambda_handler(self) -> Any:
        if self._module is None:
            module_name, _, attribute = self.handler.rpartition(".")
            path = self.code_dir / f"{module_name.replace('.', '/')}.py"
            spec = importlib.util.spec_from_file_location(f"local_function_{self.logical_id}", path)
            assert spec and spec.loader
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            self._module = module
            self._attribute = attribute
        return getattr(self._module, self._attribute)


def _path_pattern(path: str) -> re.Pattern[str]:
    regex = ""
    for part in re.split(r"(\{[^}]+\})", path):
        if part.startswith("{") and part.endswith("+}"):
            regex += f"(?P<{part[1:-2]}>.+)"
        elif part.startswith("{"):
            regex += f"(?P<{part[1:-1]}>[^/]+)"
        else:
            regex += re.escape(part)
    return re.compile(regex)


def _rate_seconds(expression: str) -> int | None:
    found = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression.strip())
    if not found:
        return None
    unit = {"minute": 60, "hour": 3600, "day": 86400}[found.group(2).rstrip("s")]
    return int(found.group(1)) * unit


class Resolver:
    """Resolves the intrinsic functions the template uses against local values."""

    def __init__(self, template: dict[str, Any], parameters: dict[str, str], resources: dict[str, str]):
        self._values = {name: str(spec.get("Default", "")) for name, spec in template.get("Parameters", {}).items()}
        self._values.update(parameters)
        self._values.update(resources)
        self._values.update({"AWS::Region": "local", "AWS::AccountId": "123456789012", "AWS::URLSuffix": "localhost"})
        self._conditions = template.get("Conditions", {})

    def holds(self, condition: Any) -> bool:
        """A template condition (by name, or its expression) against the local parameters."""
        if isinstance(condition, str):
            return self.holds(self._conditions[condition])
        ((name, argument),) = condition.items()
        if name == "Fn::Equals":
            left, right = (str(self.resolve(side)) for side in argument)
            return left == right
        if name == "Fn::Not":
            return not self.holds(argument[0])
        if name == "Fn::And":
            return all(self.holds(part) for part in argument)
        if name == "Fn::Or":
            return any(self.holds(part) for part in argument)
        if name == "Condition":
            return self.holds(argument)
        raise ValueError(f"a condition the local runner cannot evaluate: {name}")

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict) and len(value) == 1:
            ((name, argument),) = value.items()
            if name == "Ref":
                return self._values.get(argument, argument)
            if name == "Fn::If":
                # A resource of a condition that does not hold locally is never referred to.
                condition, when_true, when_false = argument
                return self.resolve(when_true if self.holds(condition) else when_false)
            if name == "Fn::Sub":
                text = argument if isinstance(argument, str) else argument[0]
                return re.sub(r"\$\{([^}!]+)\}", lambda m: self._values.get(m.group(1), m.group(0)), text)
            if name == "Fn::GetAtt":
                return f"{argument[0]}.{argument[1]}"
        if isinstance(value, dict):
            return {key: self.resolve(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        return value


@dataclass
class LocalApp:
    functions: dict[str, LocalFunction]
    routes: list[Route]
    schedules: list[Schedule]
    cors_origins: list[str]
    cors_headers: list[str]
    cors_methods: list[str]
    # Response headers a browser's script may read across origins (the attendee export's next page).
    cors_expose_headers: list[str] = field(default_factory=list)

    def find_route(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            params = route.match(method, path)
            if params is not None:
                return route, params
        return None


def load_app(template: dict[str, Any], parameters: dict[str, str], resources: dict[str, str]) -> LocalApp:
    resolver = Resolver(template, parameters, resources)
    globals_ = template.get("Globals", {}).get("Function", {})
    layer_dirs = {
        name: ROOT / resource["Properties"]["ContentUri"]
        for name, resource in resources_of_type(template, "AWS::Serverless::LayerVersion").items()
    }
    functions: dict[str, LocalFunction] = {}
    routes: list[Route] = []
    schedules: list[Schedule] = []
    for name, resource in resources_of_type(template, "AWS::Serverless::Function").items():
        props = resource["Properties"]
        environment = {
            **resolver.resolve(globals_.get("Environment", {}).get("Variables", {})),
            **resolver.resolve(props.get("Environment", {}).get("Variables", {})),
        }
        layers = [
            layer_dirs[ref["Ref"]]
            for ref in [*globals_.get("Layers", []), *props.get("Layers", [])]
            if isinstance(ref, dict) and ref.get("Ref") in layer_dirs
        ]
        functions[name] = LocalFunction(
            logical_id=name,
            code_dir=ROOT / props["CodeUri"],
            handler=props.get("Handler", globals_.get("Handler", "app.lambda_handler")),
            environment={key: str(value) for key, value in environment.items()},
            memory_mb=int(props.get("MemorySize", globals_.get("MemorySize", 128))),
            timeout_s=int(props.get("Timeout", globals_.get("Timeout", 3))),
            layers=layers,
        )
        for event in props.get("Events", {}).values():
            event_props = event.get("Properties", {})
            if event["Type"] == "HttpApi":
                method = str(event_props.get("Method", "ANY")).upper()
                path = event_props["Path"]
                authorized = event_props.get("Auth", {}).get("Authorizer") != "NONE"
                routes.append(Route(method, path, name, authorized, _path_pattern(path)))
            elif event["Type"] in ("Schedule", "ScheduleV2"):
                seconds = _rate_seconds(str(event_props.get("ScheduleExpression", "")))
                if seconds:
                    schedules.append(Schedule(name, seconds))
    # Literal segments win over parameters, as in API Gateway.
    routes.sort(key=lambda route: (route.path.count("{"), -len(route.path)))
    api: dict[str, Any] = next(iter(resources_of_type(template, "AWS::Serverless::HttpApi").values()), {"Properties": {}})
    cors = resolver.resolve(api["Properties"].get("CorsConfiguration", {}))
    for layer in {path for function in functions.values() for path in function.layers}:
        if str(layer) not in sys.path:
            sys.path.insert(0, str(layer))
    return LocalApp(
        functions=functions,
        routes=routes,
        schedules=schedules,
        cors_origins=list(cors.get("AllowOrigins", [])),
        cors_headers=list(cors.get("AllowHeaders", [])),
        cors_methods=list(cors.get("AllowMethods", [])),
        cors_expose_headers=list(cors.get("ExposeHeaders", [])),
    )

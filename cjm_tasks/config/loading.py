"""Load the YAML configuration files into one validated :class:`CjmConfig`.

Reads the main file (``configs/cjm.yaml`` by default, or ``--config`` / ``CJM_CONFIG``) and the
files it names under ``files:``; expands ``${VAR}`` and ``${VAR:-default}`` from the environment;
resolves relative paths against the folder of the file that holds them; combines several barrier
catalogs and an examples file; and turns a validation error into a :class:`ConfigError` that names
the file, the key path and what was expected (for an unknown key, the keys its mapping accepts).

Hostile or careless YAML is refused with a :class:`ConfigError` too: a key given twice in one
mapping, nesting deeper than :data:`MAX_DEPTH`, aliases that expand to more than
:data:`MAX_ALIAS_EXPANSION` extra values (an alias bomb). No error message shows a value that came
from the environment or sits under a key named like a secret: it reads ``'***'`` instead.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Union

import yaml
from pydantic import BaseModel, ValidationError

from cjm_tasks.config.catalog import BarriersFile, ExamplesFile
from cjm_tasks.config.common import display_path
from cjm_tasks.config.journey import AllRule, AnyRule, Condition, NotRule, PersonasFile, StagesFile
from cjm_tasks.config.main import FilesConfig, MainFile
from cjm_tasks.config.model import CjmConfig
from cjm_tasks.config.references import check_references
from cjm_tasks.config.sources import ExpectationsFile
from cjm_tasks.errors import ConfigError
from cjm_tasks.resources import configs_dir

DEFAULT_CONFIG = configs_dir() / "cjm.yaml"
CONFIG_ENV = "CJM_CONFIG"

_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

# Nesting deeper than any real configuration (persona rules nest a few levels), and well inside
# Python's recursion limit, which a deeper document would hit while it is composed or validated.
MAX_DEPTH = 100
# Values that aliases may add to a document once expanded: real configurations reuse a few
# blocks; nine anchors of nine aliases each would expand to 9**9 values.
MAX_ALIAS_EXPANSION = 100_000
MASK = "'***'"
# Keys whose values are masked in messages. ``*_env`` keys hold the name of a variable, not a secret.
_SECRET_KEY = re.compile(r"secret|passw|pwd|token|credential|(^|_)(api|access|private)?_?keys?(_|$)", re.I)
_URL_PASSWORD = re.compile(r"://[^/@:\s]*:([^@/\s]+)@")


def config_path(explicit: str | os.PathLike | None = None) -> Path:
    """Which main config file to use: ``explicit``, else ``$CJM_CONFIG``, else the bundled default."""
    chosen = explicit or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG
    return Path(chosen).expanduser()


def load_config(path: str | os.PathLike | None = None) -> CjmConfig:
    """Load and validate the main config file and the files it names.

    Raises :class:`ConfigError` naming the file, the key path and what was expected; a value from
    the environment or under a key named like a secret shows as ``'***'`` in its message.
    """
    secrets = _Secrets()
    try:
        return _load_config(path, secrets)
    except ConfigError as exc:
        raise secrets.masked(exc) from None


def _load_config(path: str | os.PathLike | None, secrets: _Secrets) -> CjmConfig:
    main_path = config_path(path).resolve()
    main = _load_model(main_path, MainFile, secrets)
    base = main_path.parent
    catalogs = main.files.barriers if isinstance(main.files.barriers, list) else [main.files.barriers]
    if not catalogs:
        raise ConfigError(display_path(main_path), "files.barriers", "give at least one barriers file")
    barrier_files = [Path(resolve_path(c, base)) for c in catalogs]
    files = {name: resolve_path(getattr(main.files, name), base) for name in FilesConfig.model_fields
             if getattr(main.files, name) is not None and name != "barriers"}
    files["barriers"] = str(barrier_files[0])
    stages_file = _load_model(Path(files["stages"]), StagesFile, secrets)
    stages = stages_file
    personas = _load_model(Path(files["personas"]), PersonasFile, secrets)
    barriers = _combine_catalogs([(display_path(f), _load_model(f, BarriersFile, secrets)) for f in barrier_files])
    if "examples" in files:
        barriers = _with_examples(barriers, _load_model(Path(files["examples"]), ExamplesFile, secrets), display_path(Path(files["examples"])))
    expectations = _load_model(Path(files["expectations"]), ExpectationsFile, secrets)
    main.notify.check_environment(display_path(main_path))

    sources = {
        name: src.model_copy(update={"location": resolve_path(src.location, base)}) if src.location is not None else src
        for name, src in main.sources.items()
    }
    storage = main.storage.model_copy(update={k: resolve_path(getattr(main.storage, k), base) for k in ("work", "versions", "site")})
    config = CjmConfig(
        path=main_path,
        project=main.project,
        sources=sources,
        storage=storage,
        s3=main.s3,
        metrics=main.metrics,
        diff=main.diff,
        notify=main.notify,
        stages=stages.stages,
        personas=personas,
        barriers=barriers,
        expectations=expectations,
        files={k: Path(v) for k, v in files.items()},
        orders=stages_file.orders,
        barrier_files=barrier_files,
        engine=main.engine,
        wait=main.wait,
    )
    check_references(config)
    return config


def _combine_catalogs(loaded: list[tuple[str, BarriersFile]]) -> BarriersFile:
    """Several barriers files as one: catalogs and metric rules in file order; detection,
    sentiment and matching settings from the first file. An id declared in two files is an error."""
    first = loaded[0][1]
    if len(loaded) == 1:
        return first
    catalog, rules, seen = [], [], {}
    for file, part in loaded:
        for section, items, out in (("catalog", part.catalog, catalog), ("metric_rules", part.metric_rules, rules)):
            for i, item in enumerate(items):
                key = (section, item.id)
                if key in seen:
                    raise ConfigError(file, f"{section}[{i}].id", f"barrier {item.id!r} is already declared in {seen[key]}")
                seen[key] = file
                out.append(item)
    return first.model_copy(update={"catalog": catalog, "metric_rules": rules})


def _with_examples(barriers: BarriersFile, extra: ExamplesFile, file: str) -> BarriersFile:
    ids = [b.id for b in barriers.catalog]
    for barrier_id in extra.examples:
        if barrier_id not in ids:
            raise ConfigError(file, f"examples.{barrier_id}", f"{barrier_id!r} is not a catalog barrier (expected one of {', '.join(ids)})")
    merge = lambda a, b: {lang: [*a.get(lang, []), *b.get(lang, [])] for lang in dict.fromkeys([*a, *b])}  # noqa: E731
    catalog = [b.model_copy(update={"examples": merge(b.examples, extra.examples.get(b.id, {}))}) for b in barriers.catalog]
    similarity = barriers.matching.similarity
    similarity = similarity.model_copy(update={"neutral": merge(similarity.neutral, extra.neutral), "other": merge(similarity.other, extra.other)})
    return barriers.model_copy(update={"catalog": catalog, "matching": barriers.matching.model_copy(update={"similarity": similarity})})



def resolve_path(value: str, base: Path) -> str:
    """``value`` as an absolute path against ``base``; ``s3://`` URLs are left as they are."""
    if "://" in value:
        return value
    p = Path(value).expanduser()
    return str(p if p.is_absolute() else (base / p).resolve())


class _Secrets:
    """What must not appear in an error message: the values read from the environment, the values
    under keys named like secrets, and passwords inside URLs; and, per file, the key paths whose
    value came from the environment (a pydantic error there does not quote its input)."""

    def __init__(self) -> None:
        self.values: set[str] = set()
        self.paths: set[tuple[str, tuple[Any, ...]]] = set()

    def add(self, value: Any) -> None:
        if isinstance(value, dict):
            for v in value.values():
                self.add(v)
        elif isinstance(value, list):
            for v in value:
                self.add(v)
        elif value is not None and not isinstance(value, bool) and str(value):
            self.values.add(str(value))

    def hides(self, file: str, loc: tuple[Any, ...]) -> bool:
        """Whether the value at ``loc`` of ``file`` (a pydantic location) must not be shown."""
        parts = tuple(p for p in loc if not (isinstance(p, str) and p.startswith("rule:")))
        if any(isinstance(p, str) and _is_secret_key(p) for p in parts):
            return True
        return any((file, parts[:n]) in self.paths for n in range(len(parts) + 1))

    def mask(self, text: str) -> str:
        # Longest first, so a value that contains another is masked whole. Values shorter than
        # four characters are masked only where a pydantic error points at them: replacing every
        # "1" or "en" in a message would garble it, and so short a value guards nothing.
        for value in sorted(self.values, key=len, reverse=True):
            if len(value) >= 4:
                for form in (repr(value)[1:-1], value):
                    text = text.replace(form, "***")
        return text

    def masked(self, exc: ConfigError) -> ConfigError:
        return ConfigError(exc.file, exc.key, self.mask(exc.detail)) if self.values else exc


def _is_secret_key(name: str) -> bool:
    return not name.endswith("_env") and bool(_SECRET_KEY.search(name))


# libyaml's parser (PyYAML's C extension) when PyYAML was built with it: the configuration's
# files (the default catalog and its examples are 360 KB) parse in a tenth of the time of the
# pure-Python parser, 0.06 s instead of 0.5 s, which every command and every refresh paid.
_C_YAML = hasattr(yaml, "CSafeLoader")


class _Loader(yaml.CSafeLoader if _C_YAML else yaml.SafeLoader):  # type: ignore[misc]
    """A safe YAML loader that refuses nesting past :data:`MAX_DEPTH` (before Python's recursion
    limit: :func:`_check_depth` on the events, before composing) and a key given twice in one
    mapping (YAML keeps the last one silently: a second ``storage:`` would move the store)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:  # the pure-Python parser's path only
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.MarkedYAMLError(problem=f"nested deeper than {MAX_DEPTH} levels", problem_mark=self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                if key_node.tag in ("tag:yaml.org,2002:merge", "tag:yaml.org,2002:value"):
                    continue
                key = self.construct_object(key_node, deep=deep)
                try:
                    first = seen.setdefault(key, key_node)
                except TypeError:
                    continue  # an unhashable key: the constructor reports it
                if first is not key_node:
                    raise yaml.MarkedYAMLError(problem=f"key {key!r} is given twice in this mapping (first at line "
                                                       f"{first.start_mark.line + 1}); remove one",
                                               problem_mark=key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a document whose aliases expand past :data:`MAX_ALIAS_EXPANSION` extra values, nest
    past :data:`MAX_DEPTH`, or refer to themselves. Walks each distinct node once (an alias shares
    its anchor's node), so a bomb is refused in microseconds."""
    done: dict[int, tuple[int, int]] = {}  # id(node) -> (values once expanded, depth)
    open_: set[int] = set()  # nodes on the current path
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        children = ([] if isinstance(node, yaml.ScalarNode) else
                    node.value if isinstance(node, yaml.SequenceNode) else [n for pair in node.value for n in pair])
        if finished:
            open_.discard(id(node))
            count = 1 + sum(done[id(c)][0] for c in children)
            depth = 1 + max((done[id(c)][1] for c in children), default=0)
            done[id(node)] = (count, depth)
            if depth > MAX_DEPTH:
                raise yaml.MarkedYAMLError(problem=f"aliases nest it deeper than {MAX_DEPTH} levels", problem_mark=node.start_mark)
            if count - len(done) > MAX_ALIAS_EXPANSION:
                raise yaml.MarkedYAMLError(problem=f"aliases expand it by more than {MAX_ALIAS_EXPANSION:,} values "
                                                   "(an alias bomb?); write the repeated parts out or reuse fewer", problem_mark=node.start_mark)
            continue
        if id(node) in done:
            continue
        if id(node) in open_:
            raise yaml.MarkedYAMLError(problem="an alias refers to a node that contains it (a recursive structure)", problem_mark=node.start_mark)
        open_.add(id(node))
        stack.append((node, True))
        stack.extend((c, False) for c in children)


def _check_depth(text: str) -> None:
    """Refuse nesting past :data:`MAX_DEPTH` from the parser's events (libyaml composes
    recursively in C, past any check of ours): a node's depth counts the collections around it
    and itself, as the pure-Python loader's ``compose_node`` counts it."""
    opened = 0
    for event in yaml.parse(text, Loader=yaml.CSafeLoader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            opened += 1
            depth = opened
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            opened -= 1
            continue
        elif isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent)):
            depth = opened + 1
        else:
            continue
        if depth > MAX_DEPTH:
            raise yaml.MarkedYAMLError(problem=f"nested deeper than {MAX_DEPTH} levels", problem_mark=event.start_mark)


def _parse_yaml(text: str) -> Any:
    if _C_YAML:
        _check_depth(text)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _read_yaml(path: Path, secrets: _Secrets) -> Any:
    name = display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(name, None, "file not found") from None
    except IsADirectoryError:
        raise ConfigError(name, None, "is a folder (expected a YAML file)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(name, None, f"cannot be read: {exc}") from None
    try:
        data = _parse_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(name, where, f"invalid YAML: {problem}") from None
    if data is None:
        raise ConfigError(name, None, "file is empty (expected a mapping of keys)")
    if not isinstance(data, dict):
        raise ConfigError(name, None, f"expected a mapping of keys at the top, got {type(data).__name__}")
    return _expand_env(data, name, (), secrets)


def _expand_env(node: Any, file: str, loc: tuple[Any, ...], secrets: _Secrets) -> Any:
    """``node`` with ``${VAR}`` and ``${VAR:-default}`` replaced from the environment; records in
    ``secrets`` what an error message must not show."""
    if loc and isinstance(loc[-1], str) and _is_secret_key(loc[-1]):
        secrets.add(node)
    if isinstance(node, dict):
        return {k: _expand_env(v, file, (*loc, k), secrets) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand_env(v, file, (*loc, i), secrets) for i, v in enumerate(node)]
    if not isinstance(node, str):
        return node
    secrets.add([m.group(1) for m in _URL_PASSWORD.finditer(node)])
    if "${" not in node:
        return node

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = os.environ.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                raise ConfigError(file, _key_path(loc), f"environment variable {name} is not set (write ${{{name}:-default}} for a default)")
            return default
        secrets.add(value)
        secrets.paths.add((file, loc))
        return value

    expanded = _ENV_RE.sub(substitute, node)
    secrets.add([m.group(1) for m in _URL_PASSWORD.finditer(expanded)])
    return expanded


def _load_model(path: Path, model: type[BaseModel], secrets: _Secrets) -> Any:
    data = _read_yaml(path, secrets)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _config_error(display_path(path), exc, model, secrets) from None


_KEY_IN_MESSAGE = re.compile(r"^(?P<key>[A-Za-z_][\w.\[\]]*): (?P<rest>.*)$", re.S)


def _located(error: dict[str, Any]) -> tuple[str, str]:
    """(key path, message); a model-level check may name the exact key at the start of its message."""
    key, message = _key_path(error["loc"]), _message(error)
    match = _KEY_IN_MESSAGE.match(message) if error["type"] == "value_error" else None
    if match:
        inner = match.group("key")
        key = f"{key}.{inner}" if key and not inner.startswith("[") else f"{key}{inner}"
        message = match.group("rest")
    return key, message


def _valid_keys(model: Any, loc: tuple[Any, ...]) -> list[str] | None:
    """The keys a mapping at ``loc`` (inside ``model``) accepts, or None when it cannot be told."""
    import types
    import typing

    def models_of(tp: Any) -> list[Any]:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            return models_of(typing.get_args(tp)[0])
        if origin in (Union, types.UnionType):
            return [m for a in typing.get_args(tp) for m in models_of(a)]
        return [tp]

    current: list[Any] = [model]
    for part in loc:
        nxt: list[Any] = []
        for tp in current:
            for t in models_of(tp):
                origin = typing.get_origin(t)
                if isinstance(part, str) and part.startswith("rule:"):
                    # A rule's discriminator tag picks one member of the rule union.
                    if t is {"rule:all": AllRule, "rule:any": AnyRule, "rule:not": NotRule, "rule:condition": Condition}.get(part):
                        nxt.append(t)
                    continue
                if isinstance(t, type) and issubclass(t, BaseModel):
                    for name, info in t.model_fields.items():
                        if part in (name, info.alias):
                            nxt.append(info.annotation)
                elif origin in (list, tuple) and isinstance(part, int):
                    nxt.append(typing.get_args(t)[0])
                elif origin is dict and isinstance(part, str):
                    nxt.append(typing.get_args(t)[1])
        current = nxt
        if not current:
            return None
    keys: list[str] = []
    for tp in current:
        for t in models_of(tp):
            if isinstance(t, type) and issubclass(t, BaseModel):
                keys += [info.alias or name for name, info in t.model_fields.items()]
    return list(dict.fromkeys(keys)) or None


def _config_error(file: str, exc: ValidationError, model: Any = None, secrets: _Secrets | None = None) -> ConfigError:
    errors = exc.errors(include_url=False)
    for e in errors:
        if secrets is not None and secrets.hides(file, tuple(e["loc"])):
            e["hidden"] = True
        if e["type"] == "extra_forbidden" and model is not None:
            keys = _valid_keys(model, tuple(e["loc"][:-1]))
            if keys:
                e["valid_keys"] = keys
    lines = [_located(e) for e in errors]
    first_key, first_msg = lines[0]
    if len(lines) > 1:
        extra = "; ".join(f"{k}: {m}" if k else m for k, m in lines[1:6])
        more = f" (and {len(lines) - 6} more)" if len(lines) > 6 else ""
        first_msg = f"{first_msg}\n  also: {extra}{more}"
    return ConfigError(file, first_key or None, first_msg)


def _key_path(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and part.startswith("rule:"):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def _message(error: dict[str, Any]) -> str:
    kind, given = error["type"], error.get("input")
    if error.get("hidden"):
        return _hidden_message(error)
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        # The value is not echoed: it may be a secret read from the environment.
        keys = error.get("valid_keys")
        return f"unknown key (expected one of {', '.join(keys)})" if keys else "unknown key"
    if kind == "literal_error":
        expected = re.findall(r"'([^']*)'", error["ctx"]["expected"])
        return f"{given!r} is not one of {', '.join(expected)}"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    if kind == "string_pattern_mismatch":
        return f"{given!r} must be a slug: lower-case letters, digits, '_' or '-'"
    msg = error["msg"]
    if isinstance(given, (dict, list)):
        return f"{msg[0].lower()}{msg[1:]}"
    return f"{msg[0].lower()}{msg[1:]} (got {'null' if given is None else repr(given)})"


def _hidden_message(error: dict[str, Any]) -> str:
    """The message of an error at a value that must not be shown: what was expected, with the
    value given as ``'***'``. A check's own text may quote the value anywhere, so it is left out."""
    kind, msg = error["type"], error["msg"]
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        return _message({**error, "hidden": False})
    if kind == "literal_error":
        expected = re.findall(r"'([^']*)'", error["ctx"]["expected"])
        return f"{MASK} is not one of {', '.join(expected)}"
    given = error.get("input")
    if kind == "value_error" and isinstance(given, str) and len(given) >= 4:
        return str(error["ctx"]["error"]).replace(repr(given), MASK).replace(given, "***")
    if kind == "value_error":
        return f"{MASK} is not valid here (the value is not shown: it came from the environment or sits under a secret key)"
    return f"{msg[0].lower()}{msg[1:]} (got {MASK})"

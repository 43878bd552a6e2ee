"""From the file to plain Python: strict YAML, ``${VAR}`` references, ``<key>_file`` secrets.

1. YAML -> Python with ``yaml.safe_load`` semantics, except that a duplicated
   key is an error (a feed silently replacing another is a classic trap), and
   the base-60 numbers YAML 1.1 reads (``1:30`` is 90) are noted by key path;
2. ``${VAR}``, ``${VAR:-default}`` and ``$$`` are replaced in every string
   value, after YAML parsing, so an environment value can never break the YAML;
3. a ``<key>_file`` value names a file whose text is the value of ``<key>``.

Every failure is a ConfigError; no message quotes a line of the file, which
might hold a secret.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from autoposter.config.fields import index, join
from autoposter.config.model import CONFIG_ENV_VAR, CONFIG_FILE_NAME, SECRET_KEY
from autoposter.errors import ConfigError

__all__ = [
    "file_only_value",
    "holds_secrets",
    "interpolate",
    "read_secret_file",
    "read_yaml",
    "string_leaves",
]

_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _StrictLoader(yaml.SafeLoader):
    """``safe_load`` that refuses duplicate keys and notes the base-60 numbers it read.

    YAML 1.1 reads an unquoted ``1:30`` as the number 90. Keeping the
    semantics of ``safe_load`` but remembering where that happened lets the
    checks say so, instead of silently polling every 90 seconds.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.sexagesimal: dict[str, str] = {}

    def get_single_data(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        self._inspect(node, "", set())
        return self.construct_document(node)

    def _inspect(self, node: yaml.Node, path: str, seen: set[int]) -> None:
        # Anchors make the node graph shared or even cyclic: visit each node once.
        if id(node) in seen:
            return
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            lines: dict[str, int] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
                    # Merged keys may be overridden, that is what `<<` is for.
                    self._inspect(value_node, path, seen)
                    continue
                key = str(key_node.value)
                child = join(path, key)
                line = key_node.start_mark.line + 1
                if key in lines:
                    raise ConfigError(
                        child,
                        f"duplicate key '{key}' (lines {lines[key]} and {line}); "
                        "the second would silently replace the first",
                    )
                lines[key] = line
                self._inspect(value_node, child, seen)
        elif isinstance(node, yaml.SequenceNode):
            for position, item in enumerate(node.value):
                self._inspect(item, index(path, position), seen)
        elif node.tag in (_INT_TAG, _FLOAT_TAG) and ":" in str(node.value):
            self.sexagesimal[path] = str(node.value)


def read_yaml(path: Path) -> tuple[object, dict[str, str]]:
    """The file's YAML document and the base-60 numbers in it; ConfigError for any failure."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            "",
            f"config file not found: {path} "
            f"(give one with --config or ${CONFIG_ENV_VAR}, or create ./{CONFIG_FILE_NAME})",
        ) from None
    except IsADirectoryError:
        raise ConfigError("", f"{path} is a directory, not a config file") from None
    except OSError as e:
        raise ConfigError("", f"cannot read config file {path}: {e.strerror or e}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ConfigError(
            "", f"{path}: not UTF-8 text (bad byte at offset {e.start}); save it as UTF-8"
        ) from None
    loader: _StrictLoader | None = None
    try:
        loader = _StrictLoader(text)
        return loader.get_single_data(), loader.sexagesimal
    except yaml.MarkedYAMLError as e:
        raise ConfigError("", _yaml_message(path, e, text)) from None
    except yaml.YAMLError as e:
        # Reader errors (control characters) carry their position in the message.
        raise ConfigError("", f"{path}: not valid YAML: {e}") from None
    except RecursionError:
        raise ConfigError("", f"{path}: the YAML nests too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()


def _yaml_message(path: Path, error: yaml.MarkedYAMLError, text: str) -> str:
    # Built from the parts rather than str(error), whose snippet of the line
    # could show a secret written in it.
    mark = error.problem_mark or error.context_mark
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = error.problem or error.context or "not valid YAML"
    message = f"{path}: YAML syntax error{where}: {problem}"
    if error.context and error.problem and error.context_mark is not None:
        message += f" ({error.context} at line {error.context_mark.line + 1})"
    if "'\\t'" in problem:
        message += "; indent with spaces, not tabs"
    lines = text.splitlines()
    if mark and mark.line < len(lines) and "${" in lines[mark.line]:
        # `{type: x, token: ${T}}`: inside {...} or [...], YAML ends a value at '{'.
        message += '; inside {...} or [...], put quotes around a value with ${...}: "${VAR}"'
    return message


# --- ${VAR} interpolation --------------------------------------------------------

_REFERENCE = re.compile(r"\$(?:\$|\{([^}]*)\}|\{)")
_VARIABLE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?", re.DOTALL)


class _UnsetVariable(ConfigError):
    """A ``${VAR}`` with no default names a variable that is not set."""


def interpolate(
    value: object,
    path: str,
    environ: Mapping[str, str],
    memo: dict[int, Any],
    deferred: list[str] | None = None,
) -> Any:
    """``value`` with ``${VAR}`` resolved in every string, keys left alone.

    ``memo`` makes anchored (shared) lists and mappings processed once and
    stay shared, so a file of aliases cannot blow up in size here.

    ``deferred`` (a read-only use: status, queue...): a secret-looking key whose
    value names an unset variable is left out of its mapping, and its key path
    appended there, instead of raising; no value is made up for it. Any other
    unset variable still raises ConfigError.
    """
    if isinstance(value, str):
        return _interpolate_string(value, path, environ)
    if isinstance(value, list):
        if id(value) in memo:
            return memo[id(value)]
        items: list[Any] = []
        memo[id(value)] = items
        items.extend(
            interpolate(item, index(path, i), environ, memo, deferred)
            for i, item in enumerate(value)
        )
        return items
    if isinstance(value, dict):
        if id(value) in memo:
            return memo[id(value)]
        mapping: dict[Any, Any] = {}
        memo[id(value)] = mapping
        for key, item in value.items():
            child = join(path, str(key))
            try:
                mapping[key] = interpolate(item, child, environ, memo, deferred)
            except _UnsetVariable:
                # The database URL is not deferred: every read-only command needs it.
                if deferred is None or not isinstance(item, str) or not _defers(str(key)):
                    raise
                deferred.append(child)
        return mapping
    return value


def _interpolate_string(text: str, path: str, environ: Mapping[str, str]) -> str:
    if "$" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        body = match.group(1)
        # The reference text itself is not quoted back: it sits in a value
        # that may be a secret.
        if body is None:
            raise ConfigError(path, "'${' is not closed by '}' (write $$ for a literal '$')")
        variable = _VARIABLE.fullmatch(body)
        if variable is None:
            raise ConfigError(
                path,
                "bad variable reference: expected ${NAME} or ${NAME:-default}, NAME made of "
                "letters, digits and '_' (write $$ for a literal '$')",
            )
        name, default = variable.groups()
        found = environ.get(name, "")
        # As in the shell, ":-" also covers a variable that is set but empty.
        if found:
            return found
        if default is not None:
            return str(default)
        if name in environ:
            return ""
        raise _UnsetVariable(
            path,
            f"environment variable {name} is not set "
            f"(set it, or write ${{{name}:-default}} to give a default)",
        )

    return _REFERENCE.sub(replace, text)


def read_secret_file(base_dir: Path, name: str, key: str) -> tuple[Path, str]:
    """The path of the ``<key>_file`` named ``name`` (relative to ``base_dir``) and its text,
    one trailing newline removed; ConfigError(key) if it cannot be read or is empty."""
    file_path = base_dir / Path(name).expanduser()
    try:
        text = file_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(key, f"file not found: {file_path}") from None
    except UnicodeDecodeError:
        raise ConfigError(key, f"file {file_path} is not UTF-8 text") from None
    except OSError as e:
        raise ConfigError(key, f"cannot read file {file_path}: {e.strerror or e}") from None
    # Editors and `echo` add one newline; anything else is the user's data.
    text = text.removesuffix("\n").removesuffix("\r")
    if not text:
        raise ConfigError(key, f"file {file_path} is empty")
    return file_path, text


def string_leaves(value: object, key: str | None) -> list[tuple[str | None, str]]:
    """Every string in ``value`` with the name of the mapping key it sits under."""
    if isinstance(value, dict):
        return [leaf for name, item in value.items() for leaf in string_leaves(item, str(name))]
    if isinstance(value, list):
        return [leaf for item in value for leaf in string_leaves(item, key)]
    return [(key, value)] if isinstance(value, str) else []


def withhold_secrets(value: object, path: str, withheld: list[str]) -> Any:
    """``value`` without its secrets: every secret-looking key, and every ``<key>_file``
    naming one, is left out (no file read, no variable needed) and its key path
    appended to ``withheld``. For a process that must hold no credential at all, such
    as the web console. The database URL stays: that process needs the database.
    """
    if isinstance(value, list):
        return [withhold_secrets(item, index(path, i), withheld) for i, item in enumerate(value)]
    if not isinstance(value, dict):
        return value
    kept: dict[Any, Any] = {}
    for key, item in value.items():
        child = join(path, str(key))
        if _defers(str(key).removesuffix("_file")) and not isinstance(item, (dict, list)):
            withheld.append(child)
            continue
        kept[key] = withhold_secrets(item, child, withheld)
    return kept


def _defers(key: str) -> bool:
    return SECRET_KEY.search(key) is not None


def holds_secrets(key: str | None) -> bool:
    """Whether a string under mapping key ``key`` may be, or contain, a secret."""
    return key is not None and (key == "database" or SECRET_KEY.search(key) is not None)


def file_only_value(text: str) -> str | None:
    """``text`` as the file alone makes it: ``${VAR:-default}`` gives its default, and
    None when a ``${VAR}`` without a default leaves the value to the environment."""
    try:
        return _interpolate_string(text, "", {})
    except ConfigError:
        return None

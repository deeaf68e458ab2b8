"""YAML read with line marks, and `${VAR}` references replaced from the environment.

The file is composed into a node tree (not constructed) so every value keeps its line and
column; duplicate keys, which PyYAML silently accepts, are reported here, and so are alias
bombs, before anything is built. Values read from the environment may be secrets: the
`Document` remembers which they are so that no message ever repeats one. A command that calls
no provider need not resolve every variable: an unset one it allows stays as written, a
placeholder the `Document` marks as deferred.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from numbers_iac.config.problems import FieldPath, Problems
from numbers_iac.config.secrets import is_secret_path
from numbers_iac.model import SourceRef
from numbers_iac.render.escape import describe_control

#: lists and mappings inside each other: a configuration needs about five levels; PyYAML's
#: composer (and every pass after it) recurses once per level, so 20,000 brackets would
#: exhaust Python's stack
MAX_NESTING = 100


class NestingError(yaml.MarkedYAMLError):
    """The document nests deeper than `MAX_NESTING`."""


class Loader(yaml.SafeLoader):
    """A SafeLoader used only to compose nodes and build scalars; mappings and sequences are
    built by `Reader` so that each value keeps its mark and duplicate keys are caught.
    Composing stops at `MAX_NESTING` levels, before the recursion can run out of stack."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        self.depth += 1
        try:
            if self.depth > MAX_NESTING:
                mark = self.peek_event().start_mark
                raise NestingError(None, None, _nesting_text(), mark)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _nesting_text() -> str:
    return f"values are nested more than {MAX_NESTING} levels deep; refusing to read the file"


@dataclass
class Document:
    """The plain data plus, for every path in it, where its value and its key were written."""

    data: Any
    value_marks: dict[FieldPath, yaml.Mark] = field(default_factory=dict)
    key_marks: dict[FieldPath, yaml.Mark] = field(default_factory=dict)
    #: scalars as written, for hints such as `NO` read as false
    texts: dict[FieldPath, str] = field(default_factory=dict)
    #: paths whose value came (partly) from the environment: never echo them
    from_env: set[FieldPath] = field(default_factory=set)
    #: paths holding a reference to an unset variable that was not required (see
    #: `load_config`'s `resolve_env`): the reference stays as written, a placeholder whose
    #: value is not checked
    deferred: set[FieldPath] = field(default_factory=set)
    #: for each deferred path, where it is and what its error would have said
    unset: dict[FieldPath, tuple[yaml.Mark, str]] = field(default_factory=dict)
    #: numbers YAML 1.1 reads otherwise than most readers (`010` is 8, `1:30` is 90) and
    #: `.nan` or `.inf`: where, and what to say unless a check of the field says it better
    misread: dict[FieldPath, tuple[yaml.Mark, Misread]] = field(default_factory=dict)

    def mark(self, path: FieldPath) -> yaml.Mark | None:
        """The mark of the value at `path`, or of its nearest written ancestor."""
        while path:
            if path in self.value_marks:
                return self.value_marks[path]
            path = path[:-1]
        return self.value_marks.get(())

    def key_mark(self, path: FieldPath) -> yaml.Mark | None:
        return self.key_marks.get(path) or self.mark(path)

    def source(self, path: FieldPath, file: str) -> SourceRef | None:
        mark = self.key_mark(path)
        return SourceRef(file, mark.line + 1, mark.column + 1) if mark else None

    def shown(self, value: Any, path: FieldPath) -> str:
        """A value for a message, or a stand-in when it came from the environment or is a
        secret (whatever its type: a token written as a number is still a token)."""
        if path in self.from_env:
            return "the value read from the environment"
        if is_secret_path(path):
            return "the secret value"
        if isinstance(value, bool) or value is None:  # as YAML writes them, not Python
            return {True: "true", False: "false", None: "null"}[value]
        return repr(_URL_USERINFO.sub(r"\1***@", value) if isinstance(value, str) else value)

    def is_secret(self, path: FieldPath) -> bool:
        """Whether the value at `path` must never be repeated."""
        return path in self.from_env or is_secret_path(path)


#: the `user:password@` of a URL written in the file (`base_url`): never repeated
_URL_USERINFO = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://)[^/?#@\s]*@")

#: a configuration of 100,000 numbers stays far below this; alias bombs go far above it
MAX_EXPANDED_NODES = 1_000_000


class RecursiveAlias(ValueError):
    """An alias inside the very node its anchor names (`&a {x: *a}`): endless if expanded."""

    def __init__(self, node: yaml.Node):
        super().__init__("recursive alias")
        self.node = node


def _expanded_size_and_depth(root: yaml.Node) -> tuple[int, int]:
    """How many nodes the document has once aliases are expanded, and how deeply they nest,
    without expanding them: aliases reuse node objects, so both are memoised per object.
    Composing bounds the depth as written; aliases to nested anchors can still stack up. An
    anchor is registered before its children are composed, so an alias inside its own anchor
    makes a cycle: `RecursiveAlias` (expanding it would never end)."""
    sizes: dict[int, tuple[int, int]] = {}
    open_nodes: set[int] = set()  # collections whose children are being measured
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        if not children_done and id(node) in open_nodes:
            raise RecursiveAlias(node)
        if isinstance(node, yaml.ScalarNode):
            sizes[id(node)] = (1, 1)
            continue
        children = (
            [c for pair in node.value for c in pair]
            if isinstance(node, yaml.MappingNode)
            else list(node.value)
        )
        if children_done:
            measured = [sizes.get(id(c), (0, 0)) for c in children]
            size = min(1 + sum(m[0] for m in measured), MAX_EXPANDED_NODES + 1)
            sizes[id(node)] = (size, 1 + max((m[1] for m in measured), default=0))
            open_nodes.discard(id(node))
            continue
        open_nodes.add(id(node))
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes[id(root)]


def read_yaml(
    raw: bytes,
    problems: Problems,
    env: Mapping[str, str],
    may_defer: Callable[[FieldPath], bool] = lambda path: False,
) -> Document | None:
    """Compose the file and build its data; None when there is nothing to validate.
    `may_defer(path)` says whether an unset variable at `path` is a placeholder rather than
    a problem."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problems.add(None, (), f"the file is not UTF-8 text (byte {exc.start})")
        return None
    fast = _compose_fast(text)
    if fast is not None and not _nested_too_deep(fast[1]):
        loader, node = fast
        return _read_composed(loader, node, problems, env, may_defer)
    try:
        loader = Loader(text)
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow, e.g. NUL
        problems.add(_mark_at(text, exc.position), (), _reader_error_text(exc))
        return None
    try:
        node = loader.get_single_node()
    except NestingError as exc:
        problems.add(exc.problem_mark, (), _nesting_text())
        return None
    except yaml.MarkedYAMLError as exc:
        problems.add(_yaml_error_mark(exc), (), _yaml_error_text(exc, text))
        return None
    except yaml.YAMLError as exc:
        problems.add(None, (), f"invalid YAML: {exc}")
        return None
    return _read_composed(loader, node, problems, env, may_defer)


def _compose_fast(text: str) -> tuple[Any, yaml.Node | None] | None:
    """The node tree composed by libyaml (ten times faster than PyYAML's Python composer on a
    file of 100,000 pinned numbers; its nodes keep line marks too), or None when libyaml is
    not installed or the text is not valid YAML: the pure loader then reads it again to word
    and locate the error as it always has. libyaml refuses brackets nested over 1,000 deep
    before recursing, and `_expanded_size_and_depth` bounds the rest."""
    c_loader = getattr(yaml, "CSafeLoader", None)
    if c_loader is None:
        return None
    loader = c_loader(text)
    try:
        return loader, loader.get_single_node()
    except yaml.YAMLError:
        loader.dispose()
        return None


def _nested_too_deep(node: yaml.Node | None) -> bool:
    """Whether a tree libyaml composed nests deeper than `MAX_NESTING` (libyaml allows 1,000
    levels): then the pure loader reads the file again, to locate the level as written or,
    when only aliases stack that deep, to say so."""
    if node is None:
        return False
    try:
        return _expanded_size_and_depth(node)[1] > MAX_NESTING
    except RecursiveAlias:
        return False  # `_read_composed` reports it, with its place


def _read_composed(
    loader: Any,
    node: yaml.Node | None,
    problems: Problems,
    env: Mapping[str, str],
    may_defer: Callable[[FieldPath], bool],
) -> Document | None:
    """Check the composed tree's size and shape, then build its data with marks."""
    if node is None:
        problems.add(
            None, (), "the file is empty: expected a mapping with version, providers and numbers"
        )
        return None
    try:
        size, depth = _expanded_size_and_depth(node)
    except RecursiveAlias as exc:
        problems.add(
            exc.node.start_mark,
            (),
            "a YAML alias refers to the value that contains it (endless when expanded); "
            "refusing to read the file",
        )
        return None
    if size > MAX_EXPANDED_NODES:
        problems.add(
            None,
            (),
            f"YAML aliases expand to more than {MAX_EXPANDED_NODES:,} values; refusing to read "
            "the file (an alias bomb?)",
        )
        return None
    if depth > MAX_NESTING:
        problems.add(
            None,
            (),
            f"YAML aliases nest values more than {MAX_NESTING} levels deep; refusing to read "
            "the file",
        )
        return None
    if not isinstance(node, yaml.MappingNode):
        found = "a list" if isinstance(node, yaml.SequenceNode) else "a single value"
        message = (
            f"the top level must be a mapping with version, providers and numbers, not {found}"
        )
        problems.add(node.start_mark, (), message)
        return None
    doc = Document(data=None)
    doc.value_marks[()] = node.start_mark
    try:
        doc.data = Reader(loader, env, problems, doc, may_defer).value(node, ())
    finally:
        loader.dispose()
    return doc


_LINE_BREAK = re.compile("\r\n|[\n\r\x85\u2028\u2029]")


def _mark_at(text: str, position: int) -> yaml.Mark:
    """The mark of a character position, counting line breaks as PyYAML does."""
    line, start = 0, 0
    for match in _LINE_BREAK.finditer(text, 0, position):
        line, start = line + 1, match.end()
    return yaml.Mark("<file>", position, line, position - start, None, None)


def _reader_error_text(exc: yaml.reader.ReaderError) -> str:
    char = exc.character if isinstance(exc.character, str) else chr(exc.character)
    return (
        f"the file contains the character {describe_control(char)}, which YAML does not "
        "allow in a file"
    )


def _runs_off_the_end(exc: yaml.MarkedYAMLError) -> bool:
    return exc.context_mark is not None and "<stream end>" in (exc.problem or "")


def _yaml_error_mark(exc: yaml.MarkedYAMLError) -> yaml.Mark | None:
    """Where to point: an unclosed bracket or quote is found at the end of the file, but the
    user needs to see where it was opened."""
    if _runs_off_the_end(exc):
        return exc.context_mark
    return exc.problem_mark or exc.context_mark


def _yaml_error_text(exc: yaml.MarkedYAMLError, text: str | None = None) -> str:
    problem = exc.problem or "syntax error"
    if _runs_off_the_end(exc):
        opened = (exc.context or "").removeprefix("while parsing ").removeprefix("while scanning ")
        return (
            f"invalid YAML: {opened or 'this'} is not closed before the end of the file ({problem})"
        )
    message = f"invalid YAML: {problem}"
    if exc.context and exc.context_mark and exc.context_mark != exc.problem_mark:
        message += f" ({exc.context} started at line {exc.context_mark.line + 1})"
    if _unquoted_reference_in_flow(exc, text):
        message += '; inside { } or [ ], write a ${VAR} in quotes: "${VAR}"'
    return message


def _unquoted_reference_in_flow(exc: yaml.MarkedYAMLError, text: str | None) -> bool:
    """`state: {backend: postgres, dsn: ${PG_DSN}}`: the `{` of an unquoted `${` ends
    YAML's flow mapping, and its own message does not say why."""
    mark = exc.problem_mark
    return (
        text is not None
        and mark is not None
        and "flow" in (exc.context or "")
        and text[mark.index : mark.index + 1] == "{"
        and text[mark.index - 1 : mark.index] == "$"
    )


#: YAML 1.1's octal (`010`) and base-60 (`1:30`) numbers: YAML 1.2, and the editors that
#: follow it, read `010` as 10 and `1:30` as text
_OCTAL_OR_BASE_60 = re.compile(r"[-+]?(?:0[0-7_]+|[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?)")


@dataclass(frozen=True)
class Misread:
    """What to say of a number YAML reads otherwise than written: `message` quotes the
    text written, `unquoted` says the same without it (for a value that may be a secret)."""

    message: str
    unquoted: str


_UNQUOTED = (
    "YAML reads this as another number than written (octal or base 60): write the number "
    "meant, or text in quotes"
)


def _misread(written: str, value: Any) -> Misread | None:
    """What to say of a number YAML reads as something its writer may not have meant."""
    if isinstance(value, float) and not math.isfinite(value):
        what = "not a number" if math.isnan(value) else "infinite"
        said = f"expected a number, got {written} ({what})"  # .nan or .inf: no secret
        return Misread(said, said)
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not _OCTAL_OR_BASE_60.fullmatch(written.strip()):
        return None
    if ":" in written:
        said = f"{written} reads as {value} in YAML (base 60): write {value} if that is meant"
        return Misread(said, _UNQUOTED)
    if int(written.strip().replace("_", ""), 10) == value:
        return None  # 07 is 7 to every reader
    said = (
        f"{written} reads as {value} in YAML (an octal number): write it without the leading "
        f"0, or {value} if that is meant"
    )
    return Misread(said, _UNQUOTED)


def _written(node: yaml.MappingNode) -> list[tuple[yaml.Node, yaml.Node]]:
    """A mapping's own pairs, its `<<:` keys left out."""
    return [(k, v) for k, v in node.value if k.tag != _MERGE_TAG]


def _same_node(a: yaml.Node, b: yaml.Node) -> bool:
    """Whether two nodes surely read the same: one node, or scalars written alike."""
    if a is b:
        return True
    return (
        isinstance(a, yaml.ScalarNode)
        and isinstance(b, yaml.ScalarNode)
        and (a.tag, a.value) == (b.tag, b.value)
    )


_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"
_REFERENCE = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Reader:
    """Turns composed nodes into plain data, recording marks and interpolating `${VAR}`."""

    def __init__(
        self,
        loader: Any,  # `Loader`, or libyaml's CSafeLoader (see `_compose_fast`)
        env: Mapping[str, str],
        problems: Problems,
        doc: Document,
        may_defer: Callable[[FieldPath], bool],
    ):
        self.loader = loader
        self.env = env
        self.problems = problems
        self.doc = doc
        self.may_defer = may_defer
        #: mappings whose merges were read (and their problems said) already
        self._merges_read: set[int] = set()

    def value(self, node: yaml.Node, path: FieldPath) -> Any:
        self.doc.value_marks[path] = node.start_mark
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.value(item, (*path, i)) for i, item in enumerate(node.value)]
        return self.scalar(node, path)

    def mapping(self, node: yaml.MappingNode, path: FieldPath) -> dict[str, Any]:
        written = _written(node)
        out: dict[str, Any] = {}
        for key_node, value_node in self.merged(node, path):  # written keys override them
            if isinstance(key_node, yaml.ScalarNode):
                out[key_node.value] = self.entry(key_node, value_node, path)
        first_seen: dict[str, yaml.Mark] = {}
        for key_node, value_node in written:
            if not isinstance(key_node, yaml.ScalarNode):
                self.problems.add(
                    key_node.start_mark, path, "keys must be plain text, not a list or mapping"
                )
                continue
            key = key_node.value
            if key in first_seen:
                message = (
                    f"duplicate key '{key}' (first written at line {first_seen[key].line + 1})"
                )
                self.problems.add(key_node.start_mark, path, message)
                continue
            first_seen[key] = key_node.start_mark
            out[key] = self.entry(key_node, value_node, path)
        return out

    def merged(self, node: yaml.MappingNode, path: FieldPath) -> list[tuple[yaml.Node, yaml.Node]]:
        """The pairs a `<<:` key merges into a mapping, those that win last. PyYAML's own
        `flatten_mapping` rewrites the anchored node in place, so that an alias to it read
        later finds the merged keys as if written there (a false "duplicate key"): this
        reads the tree without changing it. A second `<<:` in one mapping is a duplicate
        key, as YAML 1.2 editors say. Of `<<: [*a, *b]` YAML says a's keys win, but PyYAML
        6.0.4 lets b's win: a key the two give different values is refused, to be written
        in the mapping itself, so that no reader can take the other."""
        merges = [(k, v) for k, v in node.value if k.tag == _MERGE_TAG]
        report = id(node) not in self._merges_read  # an anchor merged twice: said once
        self._merges_read.add(id(node))
        if report and len(merges) > 1:
            first = merges[0][0].start_mark.line + 1
            message = f"duplicate key '<<' (first written at line {first})"
            self.problems.add(merges[1][0].start_mark, path, message)
        if not merges:
            return []
        value = merges[0][1]
        if isinstance(value, yaml.MappingNode):
            sources = [value]
        elif isinstance(value, yaml.SequenceNode) and all(
            isinstance(item, yaml.MappingNode) for item in value.value
        ):
            sources = list(reversed(value.value))
        else:
            if report:
                message = "invalid YAML: '<<' merges a mapping or a list of mappings, nothing else"
                self.problems.add(value.start_mark, path, message)
            return []
        each = [self.merged(source, path) + _written(source) for source in sources]
        if report and len(each) > 1:
            self.merge_conflicts(node, value, each, path)
        return [pair for pairs in each for pair in pairs]

    def merge_conflicts(
        self,
        node: yaml.MappingNode,
        merge: yaml.Node,
        each: list[list[tuple[yaml.Node, yaml.Node]]],
        path: FieldPath,
    ) -> None:
        """Keys that two mappings of one merge list give different values, unless written."""
        written = {k.value for k, _ in _written(node) if isinstance(k, yaml.ScalarNode)}
        given: dict[str, yaml.Node] = {}
        said: set[str] = set()
        for pairs in each:
            mine = {k.value: v for k, v in pairs if isinstance(k, yaml.ScalarNode)}
            for key, value_node in mine.items():
                other = given.setdefault(key, value_node)
                if key in written or key in said or _same_node(other, value_node):
                    continue
                said.add(key)
                message = (
                    f"'<<' merges two different values of '{key}': write {key} here "
                    "(YAML readers differ on which of them wins)"
                )
                self.problems.add(merge.start_mark, path, message)

    def entry(self, key_node: yaml.ScalarNode, value_node: yaml.Node, path: FieldPath) -> Any:
        child = (*path, key_node.value)
        self.doc.key_marks[child] = key_node.start_mark
        return self.value(value_node, child)

    def scalar(self, node: yaml.ScalarNode, path: FieldPath) -> Any:
        self.doc.texts[path] = node.value
        if node.tag == _STR_TAG:  # what the constructor would return, without its bookkeeping
            return (
                self.interpolate(node.value, node.start_mark, path)
                if "${" in node.value
                else node.value
            )
        try:
            value = self.loader.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as exc:
            self.problems.add(node.start_mark, path, f"cannot read this value: {exc.problem}")
            return None
        misread = _misread(node.value, value)
        if misread:
            self.doc.misread[path] = (node.start_mark, misread)
        return value

    def interpolate(self, text: str, mark: yaml.Mark, path: FieldPath) -> str:
        """Replace `${VAR}` and `${VAR:-default}`; `$${` stays a literal `${`. Like the shell,
        the default also applies when the variable is set but empty."""

        def replace(match: re.Match[str]) -> str:
            whole = match.group(0)
            if whole == "$${":
                return "${"
            if match.group(1) is None:
                self.problems.settle(
                    mark, path, "'${' is not closed by '}' (write '$${' for a literal '${')"
                )
                return whole
            name, has_default, default = match.group(1).partition(":-")
            if not _VARIABLE.fullmatch(name):
                self.problems.settle(
                    mark,
                    path,
                    f"'{whole}' is not a valid variable reference (expected ${{NAME}} or ${{NAME:-default}})",
                )
                return whole
            self.doc.from_env.add(path)
            value = self.env.get(name)
            if value:
                return value
            if has_default:
                return default
            if value is not None:  # set, and empty
                return ""
            hint = (  # a default for a secret would put the secret in the file
                "set it in the environment"
                if is_secret_path(path)
                else f"write ${{{name}:-default}} to give a default"
            )
            message = f"environment variable {name} is not set ({hint})"
            if self.may_defer(path):
                self.doc.deferred.add(path)
                self.doc.unset.setdefault(path, (mark, message))
                return whole
            self.problems.settle(mark, path, message)
            return ""

        return _REFERENCE.sub(replace, text)

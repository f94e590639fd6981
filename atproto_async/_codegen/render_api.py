"""IR -> ``atproto_async/api/``: namespace classes with one coroutine per query / procedure.

The NSID tree becomes a tree of namespace classes: ``client.app`` -> ``AppNamespace`` (in
``api/__init__.py``), ``.bsky`` -> ``AppBskyNamespace``, ``.feed`` -> ``AppBskyFeedNamespace``
holding ``get_timeline`` and the other ``app.bsky.feed.*`` methods. Each namespace lives in its
own module and is imported by its parent's cached property on first access, so touching
``client.app.bsky.feed`` loads that namespace only; models load when a call returns.
Signatures name the models by their public names (``GetTimelineOutput``, ``PostEmbed``),
imported for type checking only.
XRPC spec: https://atproto.com/specs/xrpc
"""

from __future__ import annotations

from dataclasses import dataclass, field

from atproto_async._codegen import layout, naming
from atproto_async._codegen.emit import (
    INDENT,
    LIBRARY,
    WIDTH,
    Origin,
    Writer,
    field_doc,
    import_order,
    literal,
    sentence,
    wrap,
)
from atproto_async._codegen.ir import (
    ArrayType,
    Field,
    MethodDef,
    ObjectDef,
    Primitive,
    RefType,
    Schema,
)
from atproto_async._codegen.layout import Atom, Call, Expr, Pair, call, union
from atproto_async._codegen.types import MODELS_PACKAGE, ModuleContext, describe

API_PACKAGE = "atproto_async.api"


@dataclass
class Node:
    """A namespace: an NSID prefix with child namespaces and/or methods."""

    parts: tuple[str, ...]
    package: str
    children: dict[str, Node] = field(default_factory=dict)
    methods: list[MethodDef] = field(default_factory=list)

    @property
    def class_name(self) -> str:
        return naming.namespace_class_name(self.parts)

    @property
    def module(self) -> str:
        return ".".join((self.package, *(naming.safe(naming.snake_case(p)) for p in self.parts)))

    def path(self) -> str:
        base = self.module.replace(".", "/")
        return f"{base}/__init__.py" if self.children else f"{base}.py"


def build_tree(schema: Schema, package: str = API_PACKAGE) -> Node:
    """Arrange every method of the schema by its NSID prefix."""
    root = Node((), package)
    for nsid in sorted(schema.documents.keys() - schema.library):
        method = schema.documents[nsid].method
        if method is None:
            continue
        node = root
        for part in nsid.split(".")[:-1]:
            node = node.children.setdefault(part, Node((*node.parts, part), package))
        node.methods.append(method)
    return root


def render_api(
    schema: Schema,
    package: str = API_PACKAGE,
    models_package: str = MODELS_PACKAGE,
    origin: Origin = LIBRARY,
) -> dict[str, str]:
    """Return ``{path relative to the repository: source}`` for the whole api package.

    Methods of `Schema.library` documents are not rendered: the library's client has them.

    Args:
        schema: The parsed lexicons.
        package: The dotted name of the package to generate (tests use a scratch one).
        models_package: Where the models of the same schema are generated.
        origin: What the files say about where they come from.
    """
    root = build_tree(schema, package)
    files = {package.replace(".", "/") + "/__init__.py": _render_root(root, origin)}

    def visit(node: Node) -> None:
        for child in node.children.values():
            if len(child.parts) == 1:
                if child.methods:
                    raise ValueError(f"methods directly under {child.parts[0]!r} are not supported")
                files[child.path()] = _render_package_marker(child, origin)
            else:
                files[child.path()] = _render_node(schema, child, models_package, origin)
            visit(child)

    visit(root)
    return dict(sorted(files.items()))


def _render_package_marker(node: Node, origin: Origin) -> str:
    w = Writer()
    w.line(origin.marker)
    w.docstring(f"Endpoint namespaces under ``{'.'.join(node.parts)}`` (see `{node.class_name}`).")
    return w.text()


def _child_names(node: Node) -> list[tuple[str, Node]]:
    names = []
    methods = {m.method_name for m in node.methods}
    for part, child in node.children.items():
        name = naming.safe(naming.snake_case(part))
        if name in methods:
            raise ValueError(f"{'.'.join(child.parts)}: namespace and method share the name {name}")
        names.append((name, child))
    return names


def _child_properties(w: Writer, node: Node) -> None:
    for name, child in _child_names(node):
        w.blank()
        w.line("@cached_property")
        w.line(f"def {name}(self) -> {child.class_name}:")
        with w.indent():
            w.docstring(f"Methods under ``{'.'.join(child.parts)}``.")
            w.line(f"from {child.module} import {child.class_name}")
            w.blank()
            w.line(f"return {child.class_name}(self._client)")


def _render_root(root: Node, origin: Origin) -> str:
    w = Writer()
    w.line(origin.marker)
    if origin.library:
        summary = (
            "Endpoint namespaces generated from ``lexicons/``: ``client.com``, ``client.app``, ..."
        )
        notes = [
            "``atproto_async.Client`` exposes one instance of each root namespace; every",
            "query and procedure is a coroutine at its NSID path in snake_case, e.g.",
            "``await client.app.bsky.feed.get_timeline(limit=50)``.",
        ]
    else:
        summary = f"Endpoint namespaces generated from ``{origin.source}``."
        notes = [
            "Each root namespace wraps an ``atproto_async.Client`` (or any `XrpcCaller`); every",
            "query and procedure is a coroutine at its NSID path in snake_case, e.g.",
            "``await ComNamespace(client).example.thing.get_thing(limit=5)``.",
        ]
    w.docstring(summary, [("", notes)])
    w.blank()
    w.line("from __future__ import annotations")
    w.blank()
    w.line("from functools import cached_property")
    w.line("from typing import TYPE_CHECKING")
    w.blank()
    w.line("from atproto_async._model import Namespace")
    w.blank()
    w.line("if TYPE_CHECKING:")
    with w.indent():
        for _, node in sorted(root.children.items()):
            for _, child in _child_names(node):
                w.line(f"from {child.module} import {child.class_name}")
    w.blank()
    names = sorted(node.class_name for node in root.children.values())
    w.line("__all__ = [")
    with w.indent():
        for name in names:
            w.line(f"{literal(name)},")
    w.line("]")
    for _, node in sorted(root.children.items()):
        w.blank(2)
        w.line(f"class {node.class_name}(Namespace):")
        with w.indent():
            w.docstring(f"Methods under ``{node.parts[0]}``.")
            _child_properties(w, node)
    return w.text()


def _render_node(schema: Schema, node: Node, models_package: str, origin: Origin) -> str:
    ctx = ModuleContext(schema, None, models_package)
    body = Writer()
    with body.indent():
        _child_properties(body, node)
        for method in node.methods:
            body.blank()
            _method(body, ctx, method)

    w = Writer()
    w.line(origin.marker)
    w.docstring(f"Endpoints under ``{'.'.join(node.parts)}`` (see `{node.class_name}`).")
    w.blank()
    w.line("from __future__ import annotations")
    w.blank()
    abc = sorted({"Mapping"} | ({"AsyncIterable"} if "AsyncIterable" in ctx.names else set()))
    abc += ["Sequence"] if "Sequence" in ctx.names else []
    w.line(f"from collections.abc import {', '.join(sorted(abc))}")
    if node.children:
        w.line("from functools import cached_property")
    typing_names = {"TYPE_CHECKING"} | ({"Any"} & ctx.names) | ({"Literal"} & ctx.names)
    w.line(f"from typing import {', '.join(sorted(typing_names, key=import_order))}")
    w.blank()
    runtime = {"Namespace"} | ({"dump", "dump_member", "expect_bytes"} & ctx.names)
    w.line(f"from atproto_async._model import {', '.join(sorted(runtime, key=import_order))}")
    ipld = sorted({"from_json", "to_json"} & ctx.names)
    if ipld:
        w.line(f"from atproto_async.ipld import {', '.join(ipld)}")
    w.blank()
    w.line("if TYPE_CHECKING:")
    with w.indent():
        imports: dict[str, list[str]] = {}
        runtime_types = sorted({"Blob", "Model"} & ctx.names)
        if runtime_types:
            imports["atproto_async._model"] = runtime_types
        if "CID" in ctx.names:
            imports["atproto_async.ipld"] = ["CID"]
        for (path, name), local in ctx.imports.items():
            imports.setdefault(path, []).append(name if name == local else f"{name} as {local}")
        for _, child in _child_names(node):
            imports.setdefault(child.module, []).append(child.class_name)
        for path in sorted(imports):
            w.import_from(path, sorted(imports[path], key=import_order))
        if not imports:
            w.line("pass")
    w.blank()
    w.line(f"__all__ = [{literal(node.class_name)}]")
    w.blank(2)
    w.line(f"class {node.class_name}(Namespace):")
    with w.indent():
        w.docstring(f"Methods under ``{'.'.join(node.parts)}``.")
    w.lines(body.text().rstrip("\n").split("\n"))
    return w.text()


@dataclass
class _Arg:
    py_name: str
    annotation: Expr
    default: str | None
    doc: str


def _method(w: Writer, ctx: ModuleContext, method: MethodDef) -> None:
    nsid = method.ref.nsid
    width = WIDTH - len(INDENT) * 2
    args: list[_Arg] = []
    for p in method.params:
        prim = p.type.items if isinstance(p.type, ArrayType) else p.type
        assert isinstance(prim, Primitive)
        annotation = ctx.annotation(p.type)
        facts = " ".join(describe(p.type, schema=ctx.schema))
        prose = " ".join(x for x in (sentence(p.description), facts) if x)
        if p.required:
            args.append(_Arg(p.py_name, annotation, None, prose))
        elif prim.default is not None and not isinstance(p.type, ArrayType):
            args.append(_Arg(p.py_name, annotation, literal(prim.default), prose))
        else:
            args.append(_Arg(p.py_name, union(annotation, "None"), "None", prose))

    input_fields: list[tuple[Field, str]] = []
    body_kind = "none"
    inp = method.input
    if inp is not None:
        obj = _body_object(ctx, inp.schema)
        if obj is not None:
            body_kind = "json"
            taken = naming.ENDPOINT_RESERVED | {a.py_name for a in args}
            names = naming.unique_names([f.json_name for f in obj.fields], naming.snake_case, taken)
            for f, py_name in zip(obj.fields, names, strict=True):
                annotation = ctx.annotation(f.type, accept_mapping=True)
                if f.nullable:
                    annotation = union(annotation, "None")
                facts = " ".join(describe(f.type, ctx.schema))
                prose = " ".join(x for x in (sentence(f.description), facts) if x)
                input_fields.append((f, py_name))
                if f.required:
                    args.append(_Arg(py_name, annotation, None, prose))
                else:
                    args.append(_Arg(py_name, union(annotation, "None"), "None", prose))
        else:
            body_kind = "binary"
            ctx.names.add("AsyncIterable")
            args.append(
                _Arg(
                    "data",
                    Atom("bytes | AsyncIterable[bytes]"),
                    None,
                    "The request body: bytes, or an async iterable of byte chunks (streamed).",
                )
            )
            default = None if inp.encoding in ("*/*", "") else literal(inp.encoding)
            args.append(
                _Arg(
                    "encoding",
                    Atom("str"),
                    default,
                    f"The body's media type (Content-Type); the lexicon says ``{inp.encoding}``.",
                )
            )
    args.sort(key=lambda a: a.default is not None)
    args.append(_Arg("headers", Atom("Mapping[str, str] | None"), "None", "Extra HTTP headers."))
    args.append(
        _Arg("timeout", Atom("float | None"), "None", "Seconds for this call; None: the client's.")
    )

    out = method.output
    out_obj = _body_object(ctx, out.schema) if out is not None else None
    if out is None:
        returns, returns_doc = "None", ""
    elif out_obj is not None:
        returns = _body_class(ctx, out.schema)
        ctx.names.add("from_json")
        returns_doc = sentence(out.description) or f"The response as a `{returns}` model."
    else:
        returns = "bytes"
        ctx.names.add("expect_bytes")
        returns_doc = f"The response body ({out.encoding})."

    w.line(f"async def {method.method_name}(")
    with w.indent():
        w.line("self,")
        w.line("*,")
        for a in args:
            w.lines(layout.parameter(a.py_name, a.annotation, a.default, w.level))
    w.line(f") -> {returns}:")
    with w.indent():
        kind = method.kind
        notes = [f"NSID: ``{nsid}`` ({kind}, https://atproto.com/specs/xrpc)."]
        arg_docs: list[str] = []
        for a in args:
            arg_docs.extend(field_doc(a.py_name, a.doc or "(No description.)", width))
        declared = "; the lexicon declares these ``error`` names:" if method.errors else "."
        raises = field_doc("XrpcError", f"The server answered with an error{declared}", width)
        for name, desc in method.errors:
            entry = f"``{name}``: {sentence(desc)}" if desc else f"``{name}``"
            raises.extend(INDENT + line for line in field_doc(entry, "", width - len(INDENT)))
        sections: list[tuple[str, list[str]]] = [("", notes), ("Args", arg_docs)]
        if returns_doc:
            sections.append(("Returns", wrap(returns_doc, width - len(INDENT))))
        sections.append(("Raises", raises))
        w.docstring(sentence(method.description) or f"Call ``{nsid}``.", sections)
        param_entries = [Pair(literal(p.json_name), Atom(p.py_name)) for p in method.params]
        call_target = "raw = " if out is not None else ""
        if kind == "query":
            w.line(f"{call_target}await self._client.query(")
            with w.indent():
                w.line(f"{literal(nsid)},")
                if param_entries:
                    w.statement("", Call("", tuple(param_entries), "{}"), ",")
                else:
                    w.line("None,")
                w.line("headers=headers,")
                w.line("timeout=timeout,")
            w.line(")")
        else:
            data = "None"
            if body_kind == "json":
                ctx.names.add("to_json")
                required = [(f, n) for f, n in input_fields if f.required]
                optional = [(f, n) for f, n in input_fields if not f.required]
                entries: list[Expr] = [
                    Pair(literal(f.json_name), ctx.argument_to_data(f.type, n)) for f, n in required
                ]
                w.annotated("body", Atom("dict[str, Any]"), Call("", tuple(entries), "{}"))
                ctx.names.add("Any")
                for f, n in optional:
                    w.line(f"if {n} is not None:")
                    with w.indent():
                        w.assign(f"body[{literal(f.json_name)}]", ctx.argument_to_data(f.type, n))
                data = "to_json(body)"
            elif body_kind == "binary":
                data = "data"
            w.line(f"{call_target}await self._client.procedure(")
            with w.indent():
                w.line(f"{literal(nsid)},")
                w.line(f"{data},")
                if method.params:
                    w.statement("params=", Call("", tuple(param_entries), "{}"), ",")
                if body_kind == "binary":
                    w.line("encoding=encoding,")
                w.line("headers=headers,")
                w.line("timeout=timeout,")
            w.line(")")
        if out is None:
            return
        if out_obj is not None:
            assert out is not None
            module, cls = _body_import(ctx, out.schema)
            w.import_from(module, [cls])
            w.blank()
            w.statement("return ", call(f"{cls}.from_dict", call("from_json", "raw")))
        else:
            w.statement("return ", call("expect_bytes", literal(nsid), "raw"))


def _body_object(ctx: ModuleContext, schema: ObjectDef | RefType | None) -> ObjectDef | None:
    if isinstance(schema, RefType):
        target = ctx.schema.resolve(schema.target)
        assert isinstance(target, ObjectDef)
        return target
    return schema


def _body_class(ctx: ModuleContext, schema: ObjectDef | RefType | None) -> str:
    if isinstance(schema, RefType):
        return ctx.class_ref(schema.target)
    assert schema is not None
    return ctx.name_in(schema.ref.nsid, schema.class_name)


def _body_import(ctx: ModuleContext, schema: ObjectDef | RefType | None) -> tuple[str, str]:
    obj = _body_object(ctx, schema)
    assert obj is not None
    return ctx.module_path(obj.ref.nsid), obj.class_name

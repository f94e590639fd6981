"""The lexicon code generator: lexicon documents -> models and endpoint modules.

Pipeline: `parser` reads the JSON documents into the typed IR of `ir`; `render_models` and
`render_api` turn the IR into source text through the structured writer of `emit`; `naming` owns
every naming rule. The output is deterministic byte for byte.

It ships in the wheel so that users can generate code for their own lexicons
(``atproto-async codegen``, see `build.generate_user`); the repository's ``python -m codegen``
regenerates ``atproto_async/models/`` and ``atproto_async/api/`` with it (``--check`` in CI).
Nothing here is imported by ``import atproto_async``. Lexicon spec:
https://atproto.com/specs/lexicon
"""

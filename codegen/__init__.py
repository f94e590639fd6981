"""The lexicon code generator: ``lexicons/`` -> ``atproto_async/models/`` and ``.../api/``.

Pipeline: `codegen.parser` reads the JSON documents into the typed IR of `codegen.ir`;
`codegen.render_models` and `codegen.render_api` turn the IR into source text through the
structured writer of `codegen.emit`; `codegen.naming` owns every naming rule. The output is
deterministic byte for byte. Not shipped in the wheel; run ``python -m codegen`` (or
``python -m codegen --check`` in CI). Lexicon spec: https://atproto.com/specs/lexicon
"""

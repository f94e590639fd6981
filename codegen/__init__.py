"""``python -m codegen``: regenerate ``atproto_async/models/`` and ``.../api/`` from ``lexicons/``.

The generator itself is `atproto_async._codegen` (it ships in the wheel, for
``atproto-async codegen`` on a user's own lexicons); this folder only keeps the repository's
command. Lexicon spec: https://atproto.com/specs/lexicon
"""

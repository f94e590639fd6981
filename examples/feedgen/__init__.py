"""An example feed-generator backend: a firehose indexer and a feed server sharing one SQLite file.

- ``indexer.py``: follows ``com.atproto.sync.subscribeRepos`` and keeps the posts whose text
  contains a keyword; the firehose cursor is stored in the same transaction as the index.
- ``server.py``: a `FeedGenerator` answering ``getFeedSkeleton`` from that index, newest first.
- ``__main__.py``: both in one process, ``python -m examples.feedgen --help``.

Guide: https://docs.bsky.app/docs/starter-templates/custom-feeds
"""

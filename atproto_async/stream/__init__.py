"""Event streams: ``com.atproto.sync.subscribeRepos`` and ``com.atproto.label.subscribeLabels``."""

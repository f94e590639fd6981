"""The generator's naming rules (atproto_async._codegen.naming)."""

from __future__ import annotations

import pytest

from atproto_async._codegen import naming


@pytest.mark.parametrize(
    ("name", "snake"),
    [
        ("createdAt", "created_at"),
        ("did", "did"),
        ("pdsURL", "pds_url"),
        ("getDIDDoc", "get_did_doc"),
        ("requestPhoneVerification", "request_phone_verification"),
        ("cid-link", "cid_link"),
        ("fooV2", "foo_v2"),
        ("URI", "uri"),
    ],
)
def test_snake_case(name: str, snake: str) -> None:
    assert naming.snake_case(name) == snake


@pytest.mark.parametrize(
    ("name", "pascal"),
    [("replyRef", "ReplyRef"), ("post", "Post"), ("get-thing", "GetThing"), ("viewURL", "ViewURL")],
)
def test_pascal_case(name: str, pascal: str) -> None:
    assert naming.pascal_case(name) == pascal


def test_keywords_and_reserved_names_get_an_underscore() -> None:
    assert naming.safe("from") == "from_"
    assert naming.safe("match") == "match_"
    assert naming.safe("extra", naming.MODEL_RESERVED) == "extra_"
    assert naming.safe("2fa") == "_2fa"
    assert naming.safe("text") == "text"


def test_unique_names_resolve_collisions_in_order() -> None:
    names = naming.unique_names(["fooBar", "foo_bar", "from"], naming.snake_case)
    assert names == ["foo_bar", "foo_bar_", "from_"]


def test_module_paths_and_aliases() -> None:
    assert naming.module_parts("app.bsky.feed.getTimeline") == (
        "app",
        "bsky",
        "feed",
        "get_timeline",
    )
    assert naming.module_alias("com.atproto.repo.strongRef") == "_m_com_atproto_repo_strong_ref"


def test_main_class_name_falls_back_when_taken() -> None:
    assert naming.main_class_name("app.bsky.feed.post", ["replyRef", "entity"]) == "Post"
    assert naming.main_class_name("app.bsky.embed.external", ["external", "view"]) == "Main"
    assert naming.main_class_name("x.y.input", []) == "Main"


def test_other_names() -> None:
    assert naming.def_class_name("viewRecord") == "ViewRecord"
    assert naming.def_class_name("input") == "Input_"
    assert naming.constant_name("reasonSpam") == "REASON_SPAM"
    assert naming.namespace_class_name(("app", "bsky", "feed")) == "AppBskyFeedNamespace"
    assert naming.method_name("app.bsky.feed.getTimeline") == "get_timeline"


def test_method_bodies_are_named_after_the_method() -> None:
    assert naming.body_class_name("com.atproto.repo.getRecord", "Output") == "GetRecordOutput"
    assert naming.body_class_name("com.atproto.repo.createRecord", "Input") == "CreateRecordInput"


def test_union_names() -> None:
    assert naming.union_name("Post_embed", ()) == "PostEmbed"
    assert naming.union_name("ThreadViewPost_replies_item", ()) == "ThreadViewPostRepliesItem"
    assert naming.union_name("Post_embed", {"PostEmbed"}) == "PostEmbed_"
    assert naming.union_name("output", ()) == "Output_"  # the body aliases stay free
    assert naming.union_function("PostEmbed") == "_post_embed"


def test_import_alias_of_a_clashing_name() -> None:
    module = ("app", "bsky", "actor", "defs")
    assert naming.import_alias(module, "ViewerState") == "ActorDefsViewerState"

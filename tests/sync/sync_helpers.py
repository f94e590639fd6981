"""Turning the fixtures' JSON frames into real binary frames and events, and test DID documents."""

from __future__ import annotations

from typing import Any

from atproto_async.identity import StaticIdentityResolver
from atproto_async.ipld import encode_dag_cbor, from_json
from atproto_async.stream import decode_frame


def frame_bytes(frame: dict[str, Any]) -> bytes:
    """The wire bytes of a frame given as ``{"header": ..., "body": ...}`` in the JSON form."""
    return encode_dag_cbor(from_json(frame["header"])) + encode_dag_cbor(from_json(frame["body"]))


def event_of(frame: dict[str, Any]) -> Any:
    """The decoded event, through the same decoder the stream uses."""
    return decode_frame(frame_bytes(frame))


def document(identity: dict[str, Any]) -> dict[str, Any]:
    """A DID document from the relay scenarios' account description."""
    did = identity["did"]
    methods = [
        {"id": f"{did}#{name}", "controller": did, **key}
        for name, key in identity.get("keys", {}).items()
    ]
    services = [
        {"id": f"#{name}", "type": service["type"], "serviceEndpoint": service["url"]}
        for name, service in identity.get("services", {}).items()
    ]
    return {
        "id": did,
        "alsoKnownAs": identity.get("alsoKnownAs", []),
        "verificationMethod": methods,
        "service": services,
    }


def scenario_resolver(scenario: dict[str, Any]) -> StaticIdentityResolver:
    return StaticIdentityResolver(document(a["identity"]) for a in scenario["accounts"])


class RepoWriter:
    """A repository that writes signed ``#commit`` frames as a PDS does (sync 1.1 layout).

    Each `commit` applies creates / updates / deletes, signs the new root and returns the frame
    bytes: header, body with ``prevData``, ops with ``prev`` for updates and deletes, and a CAR
    of the commit block, the record blocks and the MST nodes proving each op (``proof_blocks``
    of the new tree). Keyword knobs let tests break exactly one thing.
    """

    def __init__(self, key: Any, did: str = "did:plc:w3itemaxw3rbtyvamjg7onid") -> None:
        from atproto_async.repo import MST

        self.key = key
        self.did = did
        self.tree = MST()
        self.records: dict[Any, bytes] = {}  # every record block written, by CID
        self.last_commit: Any = None
        self.seq = 0
        self._clock = 1_700_000_000_000_000

    def rev(self) -> str:
        from atproto_async.syntax._tid import make_tid

        self._clock += 1000
        return make_tid(self._clock, 7)

    def commit(
        self,
        creates: dict[str, dict[str, Any]] | None = None,
        updates: dict[str, dict[str, Any]] | None = None,
        deletes: list[str] | None = None,
        **knobs: Any,
    ) -> bytes:
        from atproto_async.ipld import cid_for, write_car
        from atproto_async.repo import Commit

        before = self.tree
        tree = before
        ops: list[dict[str, Any]] = []
        record_blocks: dict[Any, bytes] = {}
        for action, items in (("create", creates or {}), ("update", updates or {})):
            for path, record in items.items():
                block = encode_dag_cbor(record)
                cid = cid_for(record)
                record_blocks[cid] = block
                self.records[cid] = block
                op: dict[str, Any] = {"action": action, "path": path, "cid": cid}
                if action == "update":
                    op["prev"] = tree.get(path)
                tree = tree.set(path, cid)
                ops.append(op)
        for path in deletes or []:
            ops.append({"action": "delete", "path": path, "cid": None, "prev": tree.get(path)})
            tree = tree.delete(path)
        rev = knobs.get("rev") or self.rev()
        signer = knobs.get("signer", self.key)
        commit_did = knobs.get("commit_did", self.did)
        commit = Commit.sign(signer, did=commit_did, data=tree.cid, rev=rev)
        blocks: dict[Any, bytes] = {commit.cid: commit.encode()}
        if not knobs.get("drop_records"):
            blocks.update(record_blocks)
        for op in ops:
            if not knobs.get("drop_proof"):
                blocks.update(tree.proof_blocks(op["path"]))
        if "swap_record" in knobs:  # a relay replacing a record's bytes under its CID
            cid = next(iter(record_blocks))
            blocks[cid] = encode_dag_cbor(knobs["swap_record"])
        for op in knobs.get("extra_ops", []):
            ops.append(op)
            blocks.update(tree.proof_blocks(op["path"]))
        body: dict[str, Any] = {
            "seq": knobs.get("seq", self.seq + 1),
            "repo": self.did,
            "rev": rev,
            "since": knobs.get("since", None if self.last_commit is None else self.last_commit.rev),
            "commit": commit.cid,
            "ops": ops,
            "blocks": write_car([knobs.get("root", commit.cid)], blocks.items()),
            "blobs": [],
            "time": "2026-12-04T00:00:00.000Z",
            "tooBig": knobs.get("too_big", False),
            "rebase": False,
            "prev": None,
        }
        if not knobs.get("no_prev_data"):
            body["prevData"] = knobs.get("prev_data", before.cid)
        self.seq = body["seq"]
        if knobs.get("keep", True):
            self.tree = tree
            self.last_commit = commit
        return encode_dag_cbor({"op": 1, "t": "#commit"}) + encode_dag_cbor(body)

    def car(self) -> bytes:
        """The whole repository as ``com.atproto.sync.getRepo`` returns it."""
        from atproto_async.ipld import write_car

        commit = self.last_commit
        blocks = {commit.cid: commit.encode(), **self.tree.blocks()}
        for _, cid in self.tree.walk():
            blocks[cid] = self.records[cid]
        return write_car([commit.cid], blocks.items())

    def paths(self) -> dict[str, Any]:
        return dict(self.tree.walk())

    def sync_frame(self, **knobs: Any) -> bytes:
        from atproto_async.ipld import write_car
        from atproto_async.repo import Commit

        rev = knobs.get("rev") or self.rev()
        commit = Commit.sign(self.key, did=self.did, data=self.tree.cid, rev=rev)
        self.seq += 1
        body = {
            "seq": self.seq,
            "did": self.did,
            "rev": rev,
            "blocks": write_car([commit.cid], [(commit.cid, commit.encode())]),
            "time": "2026-12-04T00:00:00.000Z",
        }
        return encode_dag_cbor({"op": 1, "t": "#sync"}) + encode_dag_cbor(body)

    def document(self, pds: str | None = None) -> dict[str, Any]:
        services = []
        if pds is not None:
            services.append(
                {"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": pds}
            )
        return {
            "id": self.did,
            "alsoKnownAs": [],
            "verificationMethod": [
                {
                    "id": f"{self.did}#atproto",
                    "type": "Multikey",
                    "controller": self.did,
                    "publicKeyMultibase": self.key.public_key.multikey(),
                }
            ],
            "service": services,
        }


def post(text: str) -> dict[str, Any]:
    return {"$type": "app.bsky.feed.post", "text": text, "createdAt": "2026-12-04T00:00:00.000Z"}

"""Drive ``tests/js/hpclient.mjs``: the unmodified npm ``@hocuspocus/provider`` in a Node process.

One process is one shared socket (``HocuspocusProviderWebsocket``) with any
number of documents on it. Commands are JSON lines (see the header of
``hpclient.mjs``); every wait happens inside Node, on the provider's own
events, with a timeout. The process plumbing is ``NodeClient``'s.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from tests.integration.node_client import JS_DIR, NodeClient
from tests.ypy_client import decode_state_vector

DRIVER = JS_DIR / "hpclient.mjs"


class HocusClient(NodeClient):
    @classmethod
    async def start_driver(cls, node: str, name: str, *args: str, driver: Path = DRIVER) -> HocusClient:
        """Start ``driver`` (default ``hpclient.mjs``) with ``args`` (``"v3"``: the 3.x provider)."""
        return await cls.start(node, name, *args, driver=driver)

    async def socket(self, url: str, *, silence_ms: int = 0) -> dict[str, Any]:
        """The shared socket; ``silence_ms``: the provider's ``messageReconnectTimeout`` (0: its default)."""
        return await self.call("socket", url=url, messageReconnectTimeout=silence_ms)

    async def open(
        self,
        doc: str,
        token: str = "",
        *,
        as_: str | None = None,
        sessions: bool = False,
        awareness: bool = True,
        reattach: bool = False,
    ) -> dict[str, Any]:
        """Attach a provider for ``doc``; later calls name it ``as_`` (default ``doc``).

        ``sessions``: the provider's ``sessionAwareness`` (its address is ``doc + "\\0" + session id``).
        ``awareness=False``: a provider without awareness. ``reattach``: the app attaches the provider
        again when the hub ends the document alone.
        """
        named = {"as": as_} if as_ else {}
        return await self.call(
            "open", doc=doc, token=token, sessionAwareness=sessions, awareness=awareness, reattach=reattach, **named
        )

    async def reattach(self, doc: str, token: str) -> dict[str, Any]:
        """Detach the provider and attach it again with ``token``."""
        return await self.call("reattach", doc=doc, token=token)

    async def close_doc(self, doc: str) -> dict[str, Any]:
        return await self.call("close", doc=doc)

    async def insert_into(self, doc: str | None, index: int, text: str) -> dict[str, Any]:
        return await self.call("insert", doc=doc, index=index, text=text)

    async def delete_from(self, doc: str | None, index: int, length: int) -> dict[str, Any]:
        return await self.call("delete", doc=doc, index=index, length=length)

    async def awareness(self, doc: str, state: Any) -> dict[str, Any]:
        return await self.call("awareness", doc=doc, state=state)

    async def stateless(self, doc: str, payload: str) -> dict[str, Any]:
        return await self.call("stateless", doc=doc, payload=payload)

    async def doc(self, doc: str) -> dict[str, Any]:
        """The document's part of a report."""
        result: dict[str, Any] = (await self.call("report", doc=doc))["doc"]
        return result

    async def document(self, doc: str | None = None) -> dict[str, Any]:
        assert doc is not None, "a Hocuspocus socket carries several documents: name one"
        return await self.doc(doc)

    async def wait_doc(self, what: str, doc: str, value: Any = None, *, within: float = 10.0) -> dict[str, Any]:
        """Until the condition ``what`` holds for ``doc`` (see ``conditions`` in hpclient.mjs)."""
        return await self.call("wait", within=within, what=what, doc=doc, value=value, timeout=within)

    async def doc_text(self, doc: str) -> str:
        return str((await self.doc(doc))["text"])

    async def doc_state_vector(self, doc: str) -> dict[int, int]:
        return decode_state_vector(base64.b64decode((await self.doc(doc))["stateVector"]))

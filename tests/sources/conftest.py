from __future__ import annotations

from tests.fakes.paper_servers import http_client, paper_server

__all__ = ["http_client", "paper_server"]

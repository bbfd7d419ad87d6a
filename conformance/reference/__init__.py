"""The reference resolver: the current spec's server discovery, as a suite plug-in.

`factory(env)` is the entry point the plug-in contract names; the HTTP helper is
exported too because other code uses it to connect exactly as told.
"""

from .http_client import ConnectError, FetchError, Response, connect_first, https_get
from .resolver import DiscoveryError, ReferenceResolver, factory
from .server_name import InvalidServerName, ServerName, format_host_header, parse_server_name

__all__ = [
    "ConnectError",
    "DiscoveryError",
    "FetchError",
    "InvalidServerName",
    "ReferenceResolver",
    "Response",
    "ServerName",
    "connect_first",
    "factory",
    "format_host_header",
    "https_get",
    "parse_server_name",
]

"""The fake internet: DNS server, certificate authority, HTTPS servers, addresses, namespaces and
the observation log. Knows nothing about the Matrix spec."""

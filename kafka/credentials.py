"""The worker's Faust clients (aiokafka) log in as conveyor's librdkafka clients do.

The same settings (``KAFKA_SECURITY_PROTOCOL``, ``KAFKA_SASL_*``, ``KAFKA_SSL_CA_LOCATION``)
become Faust's ``broker_credentials``. Properties given only as librdkafka names
(``KAFKA_CLIENT_CONFIG``) do not reach aiokafka, which has no such names.
"""

from __future__ import annotations

import ssl

from faust.auth import SASLCredentials, SSLCredentials
from faust.types.auth import CredentialsT

from conveyor.config import KafkaSettings

__all__ = ["broker_credentials"]


def broker_credentials(kafka: KafkaSettings) -> CredentialsT | None:
    """Faust's credentials for ``kafka``; None for plaintext without a login."""
    protocol = kafka.security_protocol
    context = None
    if protocol in ("SSL", "SASL_SSL"):
        cafile = str(kafka.ssl_ca_location) if kafka.ssl_ca_location is not None else None
        context = ssl.create_default_context(cafile=cafile)
    if protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
        password = kafka.sasl_password.get_secret_value() if kafka.sasl_password else None
        return SASLCredentials(
            username=kafka.sasl_username,
            password=password,
            mechanism=kafka.sasl_mechanism or "PLAIN",
            ssl_context=context,
        )
    if context is not None:
        return SSLCredentials(context)
    return None

"""Local infrastructure conveyor starts for itself, without Docker.

``kafka`` runs Apache Kafka in KRaft mode from its official Maven Central
artifacts; ``registry`` runs Apicurio Registry (Confluent-compatible API) the
same way. Both are plain JVM processes on 127.0.0.1.
"""

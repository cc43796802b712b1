"""Event Hubs ingestion: the telemetry event contract, the producers (AMQP and Kafka) and streaming Bronze."""

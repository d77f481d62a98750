-- docker compose only: the schema registry keeps its schemas in its own database on the same server.
CREATE DATABASE cloudphone_registry;

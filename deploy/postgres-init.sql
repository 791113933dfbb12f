-- The catalog's own database beside Dagster's (docker-compose.yaml mounts this into the postgres image).
CREATE DATABASE catalog OWNER dagster;

-- The services' databases (docker-compose.yml): run once by the postgres image on an empty data volume.
-- `make up` creates the same databases with stack.postgres; stack/up.py DATABASES names them.
-- A volume from before a database was added here lacks it: `docker compose down -v` (deletes the data), or
-- create it by hand: docker compose exec postgres createdb -U plusportal <name>
CREATE DATABASE onboarding;
CREATE DATABASE letters;
CREATE DATABASE identity;
CREATE DATABASE meterdata;

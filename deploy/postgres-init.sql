-- The services' databases (docker-compose.yml): run once by the postgres image on an empty data volume.
-- `make up` creates the same databases with stack.postgres; stack/up.py DATABASES names them.
CREATE DATABASE onboarding;
CREATE DATABASE letters;
CREATE DATABASE identity;

-- 数据库角色 — run ONCE, as the PostgreSQL superuser, before the first `manage.py migrate`
-- (docs/deploy.md):
--   sudo -u postgres psql -v ON_ERROR_STOP=1 -v owner=qms_owner -v owner_password='…' \
--        -v app=qms_app -v app_password='…' -v db=qms -f deploy/postgres/roles.sql
-- qms_owner owns the database and every table: it runs the migrations and nothing else.
-- qms_app is what the web nodes and the Celery workers connect as: rows only (grants.sql),
-- never the ledger's UPDATE/DELETE/TRUNCATE, never DDL, and it cannot disable the ledger's
-- triggers (only a table's owner can).
\set ON_ERROR_STOP on
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'owner', :'owner_password')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'owner') \gexec
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L NOSUPERUSER NOCREATEDB NOCREATEROLE', :'app', :'app_password')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app') \gexec
SELECT format('CREATE DATABASE %I OWNER %I ENCODING ''UTF8'' TEMPLATE template0', :'db', :'owner')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
\connect :db
-- PostgreSQL 15+: the public schema belongs to the database owner; nobody else may create in it
ALTER SCHEMA public OWNER TO :"owner";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"app";
-- tables and sequences the owner creates in later migrations: rows for the app at once
-- (grants.sql, run after every migrate, takes the ledger's UPDATE/DELETE/TRUNCATE away again)
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO :"app";

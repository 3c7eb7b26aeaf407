-- 应用角色权限 — run as the OWNER role after every `manage.py migrate` (docs/deploy.md, 升级):
--   psql "postgres://qms_owner:…@db-host/qms" -v ON_ERROR_STOP=1 -v app=qms_app -f deploy/postgres/grants.sql
-- Idempotent. The app role reads and writes rows of every table, except that the append-only
-- tables are append-only for it by privilege too (the triggers of migrations qms.0002 and
-- qms.0014 refuse the same for anyone; privileges refuse before a trigger is reached):
--   qms_ledgerentry      留痕台账: INSERT and SELECT only
--   qms_personaldataview 身份证号查看记录: INSERT and SELECT only
\set ON_ERROR_STOP on
GRANT USAGE ON SCHEMA public TO :"app";
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"app";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :"app";
REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON qms_ledgerentry FROM :"app";
REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON qms_personaldataview FROM :"app";
REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA public FROM :"app";

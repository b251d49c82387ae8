-- The sharding plan of docs/explanations/scaling.md held against our own catalog: which constraints, keys and
-- columns would break if the tables were distributed with Citus as planned. Run on a migrated
-- database (plain PostgreSQL; Citus is not needed): psql "$DATABASE_URL" -f docs/explanations/scaling_check.sql
-- Citus's rules checked here (Citus 11/12 documentation, "Creating and Modifying Distributed Objects"):
--   * a PRIMARY KEY / UNIQUE / EXCLUDE constraint (or unique index) of a distributed table must
--     contain its distribution column;
--   * a foreign key between distributed tables must join co-located tables on their distribution
--     columns; distributed → reference is fine; reference → distributed and anything between a
--     distributed and a local (coordinator) table are not supported; local → reference is fine;
--   * a row's distribution column cannot be NULL.
\pset footer off
create temporary table plan (tbl text primary key, kind text not null, dist_col text, colocation text);
insert into plan values
  -- reference tables: small, read everywhere (catalog, who is who, limits)
  ('users', 'reference', null, null), ('admins', 'reference', null, null), ('instructors', 'reference', null, null),
  ('analyst_logins', 'reference', null, null), ('rate_limits', 'reference', null, null),
  ('courses', 'reference', null, null), ('lessons', 'reference', null, null), ('quizzes', 'reference', null, null),
  ('questions', 'reference', null, null), ('assignments', 'reference', null, null),
  -- distributed by the student / owner: one co-location group
  ('enrollments', 'distributed', 'user_id', 'user'), ('lesson_progress', 'distributed', 'user_id', 'user'),
  ('quiz_attempt_counters', 'distributed', 'user_id', 'user'), ('quiz_attempts', 'distributed', 'user_id', 'user'),
  ('submissions', 'distributed', 'user_id', 'user'), ('certificates', 'distributed', 'user_id', 'user'),
  ('orders', 'distributed', 'user_id', 'user'), ('payments', 'distributed', 'user_id', 'user'),
  ('files', 'distributed', 'uploaded_by', 'user'), ('refresh_tokens', 'distributed', 'user_id', 'user'),
  ('user_tokens', 'distributed', 'user_id', 'user'), ('user_mfa', 'distributed', 'user_id', 'user'),
  ('mfa_recovery_codes', 'distributed', 'user_id', 'user'), ('audit_log', 'distributed', 'actor_id', 'user'),
  -- distributed by their own key, not co-located with anything
  ('rate_counters', 'distributed', 'bucket', 'bucket'), ('payment_events', 'distributed', 'event_id', 'event'),
  -- local tables on the coordinator
  ('login_attempts', 'local', null, null), ('outbox', 'local', null, null), ('storage_pending', 'local', null, null),
  -- the event stream (ids must increase: one sequence) and its webhook subscriptions
  ('events', 'local', null, null), ('webhooks', 'local', null, null), ('webhook_deliveries', 'local', null, null);

\echo '== tables of app not in the plan'
select c.relname as "table" from pg_class c
where c.relnamespace = 'app'::regnamespace and c.relkind in ('r', 'p') and c.relname not in (select tbl from plan);

\echo '== keys and unique indexes of distributed tables without their distribution column'
select c.relname as "table", i.relname as "index / constraint", pg_get_indexdef(x.indexrelid) as definition,
       p.dist_col as "needs"
from pg_index x join pg_class c on c.oid = x.indrelid join pg_class i on i.oid = x.indexrelid
join plan p on p.tbl = c.relname and p.kind = 'distributed'
where c.relnamespace = 'app'::regnamespace and (x.indisunique or x.indisexclusion)
  and not exists (select from pg_attribute a where a.attrelid = c.oid and a.attname = p.dist_col
                  and a.attnum = any(x.indkey))
order by 1, 2;

\echo '== foreign keys Citus would refuse as planned'
with fk as (
  select k.conname, s.relname as src, t.relname as dst, ps.kind as src_kind, pt.kind as dst_kind,
         ps.colocation as src_group, pt.colocation as dst_group,
         (select array_agg(a.attname order by u.o) from unnest(k.conkey) with ordinality u(n, o)
            join pg_attribute a on a.attrelid = k.conrelid and a.attnum = u.n) as src_cols,
         (select array_agg(a.attname order by u.o) from unnest(k.confkey) with ordinality u(n, o)
            join pg_attribute a on a.attrelid = k.confrelid and a.attnum = u.n) as dst_cols,
         ps.dist_col as src_dist, pt.dist_col as dst_dist
  from pg_constraint k join pg_class s on s.oid = k.conrelid join pg_class t on t.oid = k.confrelid
  join plan ps on ps.tbl = s.relname join plan pt on pt.tbl = t.relname
  where k.contype = 'f' and s.relnamespace = 'app'::regnamespace
)
select src as "table", conname as "foreign key", src_kind || ' → ' || dst_kind || ' ' || dst as "kinds",
       case
         when src_kind = 'reference' and dst_kind = 'distributed' then 'reference → distributed: not supported'
         when (src_kind = 'local') <> (dst_kind = 'local') and 'distributed' in (src_kind, dst_kind)
           then 'between a local and a distributed table: not supported'
         when src_kind = 'reference' and dst_kind = 'local' then 'reference → local: not supported'
         when src_group is distinct from dst_group then 'distributed tables not co-located'
         else 'must join on the distribution column: (' || array_to_string(src_cols, ', ') || ') → ('
              || array_to_string(dst_cols, ', ') || ') lacks ' || src_dist || ' = ' || dst_dist
       end as problem
from fk
where not (dst_kind = 'reference' and src_kind in ('distributed', 'reference', 'local'))
  and not (src_kind = 'local' and dst_kind = 'local')
  and not (src_kind = 'distributed' and dst_kind = 'distributed' and src_group = dst_group
           and array_position(src_cols, src_dist) = array_position(dst_cols, dst_dist)
           and array_position(src_cols, src_dist) is not null)
order by 1, 2;

\echo '== distribution columns that may be NULL'
select p.tbl as "table", p.dist_col as "column" from plan p
join pg_attribute a on a.attrelid = ('app.' || p.tbl)::regclass and a.attname = p.dist_col
where p.kind = 'distributed' and not a.attnotnull order by 1;

\echo '== identity columns and sequences (distributed: values unique per node, no longer increasing overall)'
select c.relname as "table", a.attname as "column", p.kind from pg_attribute a
join pg_class c on c.oid = a.attrelid join plan p on p.tbl = c.relname
where c.relnamespace = 'app'::regnamespace and a.attidentity <> '' order by 1;

\echo '== RLS policies per planned kind (all of them call app.current_user_id(), evaluated on whichever node runs the query)'
select p.kind, count(distinct c.relname) as tables, count(*) as policies
from pg_policy pol join pg_class c on c.oid = pol.polrelid join plan p on p.tbl = c.relname
group by 1 order by 1;

\echo '== SECURITY DEFINER functions (run on the coordinator; their statements are routed per shard)'
select n.nspname as schema, count(*) as functions from pg_proc f join pg_namespace n on n.oid = f.pronamespace
where f.prosecdef and n.nspname in ('api', 'internal', 'app', 'analytics') group by 1 order by 1;

\echo '== triggers on reference tables (they run where the catalog row is written; those reading or writing students'' rows become multi-shard statements)'
select c.relname as "table", t.tgname as "trigger", t.tgfoid::regproc as "function"
from pg_trigger t join pg_class c on c.oid = t.tgrelid join plan p on p.tbl = c.relname and p.kind = 'reference'
where not t.tgisinternal and t.tgname !~ 'set_updated_at'
order by 1, 2;

\echo '== triggers on distributed tables (each runs on the shard''s node; those writing the event stream, a local table, make every such write a distributed transaction)'
select c.relname as "table", t.tgname as "trigger", t.tgfoid::regproc as "function"
from pg_trigger t join pg_class c on c.oid = t.tgrelid join plan p on p.tbl = c.relname and p.kind = 'distributed'
where not t.tgisinternal and t.tgname !~ 'set_updated_at'
order by 1, 2;

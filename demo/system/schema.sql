-- The system under migration: incoming submissions, the scores both pipelines write, per-item run records
-- (from which the plan's metrics are computed), shadow outputs of the parallel run, and the demo's fault switches.
create table if not exists submissions (
  id bigserial primary key,
  title text not null,
  body text not null,
  subreddit text not null,
  score integer not null,
  created_at timestamptz not null default now()
);

-- The authoritative output: one row per submission, written by whichever pipeline owns it (exactly once).
create table if not exists scores (
  submission_id bigint primary key references submissions (id),
  pipeline text not null check (pipeline in ('legacy', 'unified')),
  quality_score numeric(8, 3) not null,
  trust_score numeric(8, 3),
  scored_at timestamptz not null default now()
);

-- What the unified pipeline computes for items the legacy pipeline owns, during the parallel run.
create table if not exists shadow_scores (
  submission_id bigint primary key references submissions (id),
  quality_score numeric(8, 3) not null,
  trust_score numeric(8, 3) not null,
  scored_at timestamptz not null default now()
);

create table if not exists item_runs (
  id bigserial primary key,
  submission_id bigint not null references submissions (id),
  pipeline text not null,
  job text not null,
  status text not null check (status in ('ok', 'error')),
  duration_ms integer not null,
  cost numeric(10, 6) not null,
  finished_at timestamptz not null default now()
);
create index if not exists item_runs_finished on item_runs (finished_at);

create table if not exists demo_faults (
  name text primary key check (name in ('error-spike', 'slow', 'divergent')),
  enabled boolean not null default false
);

-- Stable share of an item in 0..99: an item is the unified pipeline's when its share is below the unified percent.
-- The same rule as ownsItem() in activities/traffic.ts.
create or replace function unified_share(item_id bigint) returns integer
  language sql immutable as $$ select ((('x' || substr(md5(item_id::text), 1, 8))::bit(32)::bigint) % 100)::integer $$;

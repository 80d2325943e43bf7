-- The table behind examples/notes-schema.js. Run after `pgcascade migrate`:
--   psql "$DATABASE_URL" -f examples/notes.sql
create schema if not exists notes;

create table if not exists notes.notes (
  id bigint generated always as identity primary key,
  title text not null,
  body text not null,
  pinned boolean not null default false
);

-- Capture every change; lists filtered on pinned move when it changes.
select pgcascade.track('notes.notes', 'Note', 'id', '{}', '{pinned}');

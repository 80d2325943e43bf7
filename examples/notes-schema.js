// A schema module for `pgcascade serve --schema ./examples/notes-schema.js`: a small
// notes API over the table in examples/notes.sql. pgcascade caches its queries and
// keeps them fresh from the capture triggers; nothing here knows about the cache
// except the optional hints at the bottom.

const typeDefs = /* GraphQL */ `
  type Note {
    id: ID!
    title: String!
    body: String!
    pinned: Boolean!
  }

  type Query {
    notes(pinned: Boolean, first: Int = 20): [Note!]!
    note(id: ID!): Note
  }

  type Mutation {
    addNote(title: String!, body: String!): Note!
    pinNote(id: ID!, pinned: Boolean!): Note
  }
`;

const columns = 'id::text, title, body, pinned';

const resolvers = {
  Query: {
    async notes(_parent, { pinned, first }, { pool }) {
      const { rows } = await pool.query(
        `select ${columns} from notes.notes
         where $1::boolean is null or pinned = $1 order by id limit $2`,
        [pinned ?? null, Math.min(first, 100)],
      );
      return rows;
    },
    async note(_parent, { id }, { pool }) {
      const { rows } = await pool.query(`select ${columns} from notes.notes where id = $1`, [id]);
      return rows[0] ?? null;
    },
  },
  Mutation: {
    async addNote(_parent, { title, body }, { pool }) {
      const { rows } = await pool.query(
        `insert into notes.notes (title, body) values ($1, $2) returning ${columns}`,
        [title, body],
      );
      return rows[0];
    },
    async pinNote(_parent, { id, pinned }, { pool }) {
      const { rows } = await pool.query(
        `update notes.notes set pinned = $2 where id = $1 returning ${columns}`,
        [id, pinned],
      );
      return rows[0] ?? null;
    },
  },
};

module.exports = {
  typeDefs,
  resolvers,
  // Optional: the list a field returns, in the capture triggers' tag vocabulary, so a
  // change to an unpinned note leaves cached pinned lists alone.
  listTags: {
    'Query.notes': (args) => (args.pinned == null ? ['Note[]'] : [`Note[pinned=${args.pinned}]`]),
  },
  // Optional: cached results containing notes expire after an hour at the latest.
  ttlSeconds: { Note: 3600 },
};

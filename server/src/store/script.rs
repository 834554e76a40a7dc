//! Several write statements sent as one (issue 8, session 7). With SQLite
//! every statement is a round trip to sqlx's worker thread, and on the
//! single writer's path those round trips, not the SQL, were most of a
//! group commit's time. A [`Script`] collects the statements of a batch's
//! writes (the messages, the deliveries and sharing records it carries) and
//! on SQLite runs them as one multi-statement query, in one round trip;
//! PostgreSQL's extended protocol takes one statement at a time, so there
//! they run one by one, as before.
//!
//! Placeholders: on SQLite plain `?` takes the next value of the whole
//! script, and `$N` the N-th of the whole script; on PostgreSQL each
//! statement numbers its own from `$1`. Statements built with
//! [`Placeholders`](super::Placeholders) (`?` on SQLite) may come in any
//! order; a statement that numbers its values (`$N`, see [`Script::base`])
//! must come after every `?` statement (SQLite counts `?` values only past
//! earlier `?` values).
//!
//! The message writer's own connection ([`super::direct`]) runs a script's
//! statements one by one too, in the same call on the same thread; there,
//! as on PostgreSQL, each statement numbers its own values.

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AssertSqlSafe};

use super::{Conn, StoreError, StoreResult};
use crate::config::Engine;

/// Placeholders for long multi-row statements, as the connection's engine
/// reads them fastest: `$1, $2, …` on PostgreSQL, plain `?` on SQLite (which
/// numbers them in the order written: bind in that order). SQLite takes
/// `$N` as a parameter *name*, looked up among the statement's earlier names
/// when it is prepared and again when each value is bound: a 1,000-value
/// insert cost a million string comparisons, inside the write transaction
/// (session 6's profile: 5% of the server's CPU, all of it on the single
/// writer's path).
#[derive(Clone, Copy)]
pub(crate) struct Placeholders {
    positional: bool,
}

impl Placeholders {
    /// For statements run on the pool of a database of `engine`.
    pub(crate) fn for_engine(engine: Engine) -> Placeholders {
        Placeholders {
            positional: engine == Engine::Sqlite,
        }
    }

    pub(crate) fn of(conn: &Conn) -> Placeholders {
        Placeholders {
            positional: conn.backend_name() == <sqlx::Sqlite as sqlx::Database>::NAME,
        }
    }

    /// `(p, p, …)` for `n` values numbered from `first`.
    pub(crate) fn list(self, first: usize, n: usize) -> String {
        let list: Vec<String> = (first..first + n).map(|i| self.one(i)).collect();
        format!("({})", list.join(", "))
    }

    /// The placeholder of value number `i` (counted from 1).
    pub(crate) fn one(self, i: usize) -> String {
        if self.positional {
            "?".into()
        } else {
            format!("${i}")
        }
    }
}

/// A value to bind.
#[derive(Clone)]
pub(crate) enum Value<'a> {
    Text(&'a str),
    Owned(String),
    Int(i64),
    /// `None` binds NULL.
    MaybeText(Option<&'a str>),
}

pub(crate) struct Statement<'a> {
    pub(crate) sql: String,
    pub(crate) values: Vec<Value<'a>>,
}

/// How the statements run.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// sqlx on SQLite: one multi-statement query.
    Joined,
    /// PostgreSQL: one statement at a time, each numbering its own `$N`.
    Separate,
    /// The writer's own SQLite connection: one statement at a time, `?`
    /// placeholders or `$N` numbered within the statement.
    Direct,
}

/// Statements to run in one round trip on SQLite.
pub(crate) struct Script<'a> {
    mode: Mode,
    statements: Vec<Statement<'a>>,
    /// Values of the whole script so far.
    count: usize,
    /// A statement with numbered placeholders has been added.
    numbered: bool,
}

impl<'a> Script<'a> {
    pub(crate) fn new(conn: &Conn) -> Script<'a> {
        Script {
            mode: if Placeholders::of(conn).positional {
                Mode::Joined
            } else {
                Mode::Separate
            },
            statements: Vec::new(),
            count: 0,
            numbered: false,
        }
    }

    /// A script for the message writer's own connection ([`super::direct`]).
    pub(crate) fn direct() -> Script<'a> {
        Script {
            mode: Mode::Direct,
            statements: Vec::new(),
            count: 0,
            numbered: false,
        }
    }

    /// The writer's own connection: statements are prepared once and kept
    /// in its cache, so each must have a shape that repeats.
    pub(crate) fn is_direct(&self) -> bool {
        self.mode == Mode::Direct
    }

    /// Where the next statement's `$N` count from: `$(base + 1)` is its
    /// first value (the whole script's values so far in one SQLite query,
    /// none where statements run one by one).
    pub(crate) fn base(&self) -> usize {
        if self.mode == Mode::Joined {
            self.count
        } else {
            0
        }
    }

    /// `items` cut into the pieces multi-row statements should carry, at
    /// most `most` each. On the direct connection a statement costs no
    /// round trip, but each row count is a statement of its own to prepare
    /// and keep in its cache, so there the pieces are powers of two, at most
    /// [`DIRECT_ROWS`]: five shapes of each statement serve every batch, and
    /// a batch of N rows takes N/16 statements and at most four more, not N
    /// (session 9:
    /// one statement per row flushed the full-text index once per message,
    /// and a statement per row count missed the cache).
    pub(crate) fn chunks<'x, T>(&self, items: &'x [T], most: usize) -> Chunks<'x, T> {
        Chunks {
            rest: items,
            most: if self.mode == Mode::Direct {
                DIRECT_ROWS.min(most)
            } else {
                most
            },
            powers: self.mode == Mode::Direct,
        }
    }

    /// The statements, to run one by one.
    pub(crate) fn into_statements(self) -> Vec<Statement<'a>> {
        self.statements
    }

    /// Add a statement whose placeholders come from `Placeholders` (`?`
    /// on SQLite).
    pub(crate) fn push(&mut self, sql: String, values: Vec<Value<'a>>) -> StoreResult<()> {
        if self.mode == Mode::Joined && self.numbered {
            return Err(StoreError::Invalid(
                "a `?` statement after a numbered one in a script".into(),
            ));
        }
        self.count += values.len();
        self.statements.push(Statement { sql, values });
        Ok(())
    }

    /// Add a statement numbering its values `$(base + 1)…` (see [`Script::base`]).
    pub(crate) fn push_numbered(&mut self, sql: String, values: Vec<Value<'a>>) {
        self.numbered = true;
        self.count += values.len();
        self.statements.push(Statement { sql, values });
    }

    /// Placeholders for [`Script::push`]'s statements.
    pub(crate) fn placeholders(&self) -> Placeholders {
        Placeholders {
            positional: self.mode != Mode::Separate,
        }
    }

    /// Run every statement; returns the rows they changed in all.
    pub(crate) async fn execute(self, conn: &mut Conn) -> StoreResult<u64> {
        if self.statements.is_empty() {
            return Ok(0);
        }
        if self.mode != Mode::Joined {
            let mut changed = 0;
            for s in self.statements {
                changed += bind(sqlx::query(AssertSqlSafe(s.sql)), s.values)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
            }
            return Ok(changed);
        }
        let (sql, values) = self.joined();
        Ok(bind(sqlx::query(AssertSqlSafe(sql)), values)
            .execute(&mut *conn)
            .await?
            .rows_affected())
    }

    /// One SQLite query of every statement.
    fn joined(self) -> (String, Vec<Value<'a>>) {
        let mut sql = String::new();
        let mut values = Vec::with_capacity(self.count);
        for s in self.statements {
            sql.push_str(&s.sql);
            sql.push_str(";\n");
            values.extend(s.values);
        }
        (sql, values)
    }
}

impl Script<'_> {
    /// Run every statement; returns the rows they return, in order (each
    /// row with its own statement's columns).
    pub(crate) async fn fetch_all(self, conn: &mut Conn) -> StoreResult<Vec<AnyRow>> {
        if self.statements.is_empty() {
            return Ok(Vec::new());
        }
        if self.mode != Mode::Joined {
            let mut rows = Vec::new();
            for s in self.statements {
                rows.extend(
                    bind(sqlx::query(AssertSqlSafe(s.sql)), s.values)
                        .fetch_all(&mut *conn)
                        .await?,
                );
            }
            return Ok(rows);
        }
        let (sql, values) = self.joined();
        Ok(bind(sqlx::query(AssertSqlSafe(sql)), values)
            .fetch_all(&mut *conn)
            .await?)
    }
}

fn bind<'q>(
    mut q: Query<'q, Any, AnyArguments>,
    values: Vec<Value<'q>>,
) -> Query<'q, Any, AnyArguments> {
    for v in values {
        q = match v {
            Value::Text(t) => q.bind(t),
            Value::Owned(t) => q.bind(t),
            Value::Int(i) => q.bind(i),
            Value::MaybeText(t) => q.bind(t),
        };
    }
    q
}

/// Rows per statement on the direct connection, at most (see
/// [`Script::chunks`]).
const DIRECT_ROWS: usize = 16;

/// The pieces of [`Script::chunks`].
pub(crate) struct Chunks<'x, T> {
    rest: &'x [T],
    most: usize,
    /// Pieces are powers of two.
    powers: bool,
}

impl<'x, T> Iterator for Chunks<'x, T> {
    type Item = &'x [T];

    fn next(&mut self) -> Option<&'x [T]> {
        if self.rest.is_empty() {
            return None;
        }
        let mut n = self.rest.len().min(self.most.max(1));
        if self.powers {
            // The largest power of two not above n.
            n = 1 << n.ilog2();
        }
        let (piece, rest) = self.rest.split_at(n);
        self.rest = rest;
        Some(piece)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(mode: Mode, n: usize, most: usize) -> Vec<usize> {
        let script = Script {
            mode,
            statements: Vec::new(),
            count: 0,
            numbered: false,
        };
        let items: Vec<usize> = (0..n).collect();
        let cut: Vec<&[usize]> = script.chunks(&items, most).collect();
        // Every item once, in order.
        assert_eq!(cut.concat(), items);
        cut.iter().map(|c| c.len()).collect()
    }

    #[test]
    fn the_direct_connection_takes_powers_of_two_and_the_others_take_the_most() {
        assert_eq!(pieces(Mode::Direct, 0, 100), Vec::<usize>::new());
        assert_eq!(pieces(Mode::Direct, 1, 100), vec![1]);
        assert_eq!(pieces(Mode::Direct, 11, 100), vec![8, 2, 1]);
        assert_eq!(
            pieces(Mode::Direct, 90, 200),
            vec![16, 16, 16, 16, 16, 8, 2]
        );
        // A smaller `most` still caps the pieces.
        assert_eq!(pieces(Mode::Direct, 7, 3), vec![2, 2, 2, 1]);
        assert_eq!(pieces(Mode::Joined, 250, 100), vec![100, 100, 50]);
        assert_eq!(pieces(Mode::Separate, 3, 100), vec![3]);
    }
}

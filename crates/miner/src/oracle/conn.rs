//! The connection layer: the few operations the source needs from a database connection, so the
//! real driver ([`super::driver`]) and a scripted fake (tests) run the same source code.

use std::ops::ControlFlow;
use std::time::Duration;

use super::error::OraError;
use super::rows::RowAccess;

/// A positional bind value (`:1`, `:2`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bind<'a> {
    U64(u64),
    Str(&'a str),
}

/// Fetch tuning of the mining query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FetchOptions {
    pub array_size: u32,
    pub prefetch_rows: u32,
}

/// Metadata rows, every value as text (NUMBERs in decimal), NULL as `None`.
pub type TextRows = Vec<Vec<Option<String>>>;

/// What [`OracleConnection::query_rows`] calls per row: `Break` closes the cursor.
pub type RowFn<'a> = dyn FnMut(&dyn RowAccess) -> Result<ControlFlow<()>, OraError> + 'a;

/// One open connection. Blocking; used from one thread.
pub trait OracleConnection: Send {
    /// Runs a statement or PL/SQL block.
    fn execute(&mut self, sql: &str, binds: &[Bind<'_>]) -> Result<(), OraError>;

    /// Runs a small query and returns all its rows as text.
    fn query_text(&mut self, sql: &str, binds: &[Bind<'_>]) -> Result<TextRows, OraError>;

    /// Runs the mining query, handing each row to `each` in fetch order; stops (closing the
    /// cursor) when `each` returns `Break` or an error.
    fn query_rows(
        &mut self,
        sql: &str,
        binds: &[Bind<'_>],
        fetch: FetchOptions,
        each: &mut RowFn<'_>,
    ) -> Result<(), OraError>;

    /// Bounds every later round trip (`None`: no limit).
    fn set_call_timeout(&mut self, timeout: Option<Duration>) -> Result<(), OraError>;

    /// A callable that breaks this connection's call in progress from another thread (the
    /// running call then fails with ORA-01013). `None` where the connection cannot.
    fn breaker(&self) -> Option<Breaker> {
        None
    }
}

/// See [`OracleConnection::breaker`].
pub type Breaker = Box<dyn Fn() + Send + Sync>;

/// Opens connections (the driver with its timeouts, or a fake).
pub trait OracleConnector: Send {
    type Conn: OracleConnection;

    fn connect(&mut self) -> Result<Self::Conn, OraError>;
}

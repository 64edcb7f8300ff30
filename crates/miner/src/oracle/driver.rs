//! The connection layer over the `oracle` crate (ODPI-C). The Oracle client library is loaded
//! at the first connect; without it the connect fails with DPI-1047, which
//! [`super::error::classify`] makes a fatal error telling the operator to install Instant
//! Client.

use std::time::Duration;

use oracle::sql_type::{Timestamp, ToSql};

use super::config::{OracleConfig, Password};
use super::conn::{Bind, FetchOptions, OracleConnection, OracleConnector, RowFn, TextRows};
use super::error::OraError;
use super::rows::{DateParts, RowAccess};

fn ora_error(e: oracle::Error) -> OraError {
    OraError {
        ora: e.oci_code(),
        dpi: e.dpi_code(),
        message: e.to_string(),
    }
}

fn params<'a>(binds: &'a [Bind<'a>]) -> Vec<&'a dyn ToSql> {
    binds
        .iter()
        .map(|b| match b {
            Bind::U64(v) => v as &dyn ToSql,
            Bind::Str(s) => s as &dyn ToSql,
        })
        .collect()
}

/// Adds the connect timeout and keep-alive (`EXPIRE_TIME`, whole minutes, at least 1) to an
/// Easy Connect string or a `(DESCRIPTION=...)` unless it sets them already. A tnsnames alias is
/// returned as is (set them in tnsnames.ora).
pub fn connect_string_with_timeouts(
    connect_string: &str,
    connect_timeout: Duration,
    keep_alive: Duration,
) -> String {
    let cs = connect_string.trim();
    let timeout = connect_timeout.as_secs().max(1);
    let expire = keep_alive.as_secs().div_ceil(60).max(1);
    let upper = cs.to_ascii_uppercase();
    if cs.starts_with('(') {
        let mut extra = String::new();
        if !upper.contains("CONNECT_TIMEOUT") {
            extra.push_str(&format!("(CONNECT_TIMEOUT={timeout})"));
        }
        if !upper.contains("EXPIRE_TIME") {
            extra.push_str(&format!("(EXPIRE_TIME={expire})"));
        }
        return match upper.find("(DESCRIPTION=") {
            Some(p) if !extra.is_empty() => {
                let at = p + "(DESCRIPTION=".len();
                format!("{}{extra}{}", &cs[..at], &cs[at..])
            }
            _ => cs.to_string(),
        };
    }
    if !cs.contains('/') && !cs.contains(':') {
        return cs.to_string();
    }
    let mut out = cs.to_string();
    let mut sep = if cs.contains('?') { '&' } else { '?' };
    for (key, value) in [("connect_timeout", timeout), ("expire_time", expire)] {
        if !upper.contains(&key.to_ascii_uppercase()) {
            out.push(sep);
            out.push_str(&format!("{key}={value}"));
            sep = '&';
        }
    }
    out
}

/// Opens `oracle` crate connections.
#[derive(Debug)]
pub struct DriverConnector {
    user: String,
    password: Password,
    connect_string: String,
}

impl DriverConnector {
    pub fn new(config: &OracleConfig, password: Password) -> Self {
        DriverConnector {
            user: config.user.clone(),
            password,
            connect_string: connect_string_with_timeouts(
                &config.connect_string,
                config.connect_timeout,
                config.keep_alive,
            ),
        }
    }

    pub fn connect_string(&self) -> &str {
        &self.connect_string
    }
}

impl OracleConnector for DriverConnector {
    type Conn = DriverConnection;

    fn connect(&mut self) -> Result<DriverConnection, OraError> {
        let mut connector =
            oracle::Connector::new(&self.user, self.password.expose(), &self.connect_string);
        connector.driver_name("redoflow");
        let conn = connector.connect().map_err(ora_error)?;
        Ok(DriverConnection {
            conn: std::sync::Arc::new(conn),
        })
    }
}

/// One `oracle::Connection`, shared with its breaker (`oracle::Connection` is `Sync`, and
/// `break_execution` is meant to be called from another thread while a call runs).
pub struct DriverConnection {
    conn: std::sync::Arc<oracle::Connection>,
}

impl std::fmt::Debug for DriverConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DriverConnection")
    }
}

struct DriverRow<'a>(&'a oracle::Row);

impl RowAccess for DriverRow<'_> {
    fn number_u64(&self, col: usize) -> Result<Option<u64>, OraError> {
        self.0.get::<usize, Option<u64>>(col).map_err(ora_error)
    }

    fn number_i64(&self, col: usize) -> Result<Option<i64>, OraError> {
        self.0.get::<usize, Option<i64>>(col).map_err(ora_error)
    }

    fn text(&self, col: usize) -> Result<Option<String>, OraError> {
        self.0.get::<usize, Option<String>>(col).map_err(ora_error)
    }

    fn raw(&self, col: usize, buf: &mut Vec<u8>) -> Result<bool, OraError> {
        buf.clear();
        match self
            .0
            .get::<usize, Option<Vec<u8>>>(col)
            .map_err(ora_error)?
        {
            Some(bytes) => {
                buf.extend_from_slice(&bytes);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn date(&self, col: usize) -> Result<Option<DateParts>, OraError> {
        Ok(self
            .0
            .get::<usize, Option<Timestamp>>(col)
            .map_err(ora_error)?
            .map(|t| DateParts {
                year: t.year(),
                month: t.month(),
                day: t.day(),
                hour: t.hour(),
                minute: t.minute(),
                second: t.second(),
            }))
    }
}

impl OracleConnection for DriverConnection {
    fn execute(&mut self, sql: &str, binds: &[Bind<'_>]) -> Result<(), OraError> {
        self.conn
            .execute(sql, &params(binds))
            .map(drop)
            .map_err(ora_error)
    }

    fn query_text(&mut self, sql: &str, binds: &[Bind<'_>]) -> Result<TextRows, OraError> {
        let rows = self.conn.query(sql, &params(binds)).map_err(ora_error)?;
        let mut out = Vec::new();
        for row in rows {
            let row = row.map_err(ora_error)?;
            let n = row.sql_values().len();
            let mut values = Vec::with_capacity(n);
            for i in 0..n {
                values.push(row.get::<usize, Option<String>>(i).map_err(ora_error)?);
            }
            out.push(values);
        }
        Ok(out)
    }

    fn query_rows(
        &mut self,
        sql: &str,
        binds: &[Bind<'_>],
        fetch: FetchOptions,
        each: &mut RowFn<'_>,
    ) -> Result<(), OraError> {
        let mut stmt = self
            .conn
            .statement(sql)
            .fetch_array_size(fetch.array_size)
            .prefetch_rows(fetch.prefetch_rows)
            .build()
            .map_err(ora_error)?;
        let rows = stmt.query(&params(binds)).map_err(ora_error)?;
        for row in rows {
            let row = row.map_err(ora_error)?;
            if each(&DriverRow(&row))?.is_break() {
                break;
            }
        }
        Ok(())
    }

    fn set_call_timeout(&mut self, timeout: Option<Duration>) -> Result<(), OraError> {
        self.conn.set_call_timeout(timeout).map_err(ora_error)
    }

    fn breaker(&self) -> Option<super::conn::Breaker> {
        let conn = self.conn.clone();
        Some(Box::new(move || {
            if let Err(e) = conn.break_execution() {
                tracing::warn!(error = %e, "cannot break the running Oracle call");
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_join_the_connect_string() {
        let t = Duration::from_secs(60);
        let k = Duration::from_secs(30);
        assert_eq!(
            connect_string_with_timeouts("db:1521/ORCLCDB", t, k),
            "db:1521/ORCLCDB?connect_timeout=60&expire_time=1"
        );
        assert_eq!(
            connect_string_with_timeouts("db/S?expire_time=5", t, k),
            "db/S?expire_time=5&connect_timeout=60"
        );
        assert_eq!(
            connect_string_with_timeouts(
                "(DESCRIPTION=(ADDRESS=(PROTOCOL=TCP)(HOST=db)(PORT=1521))(CONNECT_DATA=(SERVICE_NAME=S)))",
                t,
                k
            ),
            "(DESCRIPTION=(CONNECT_TIMEOUT=60)(EXPIRE_TIME=1)(ADDRESS=(PROTOCOL=TCP)(HOST=db)(PORT=1521))(CONNECT_DATA=(SERVICE_NAME=S)))"
        );
        assert_eq!(connect_string_with_timeouts("PRODDB", t, k), "PRODDB");
    }
}

//! Oracle errors and what the source does about each: a table from ORA / DPI codes to
//! [`ErrorClass`], so the retry loop never matches on message text.

use std::fmt;

/// An error from the connection layer: the database (`ORA-nnnnn`), the driver (`DPI-nnnn`), or a
/// row the source could not convert (neither code).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OraError {
    /// The ORA code (`ORA-01291` → 1291).
    pub ora: Option<i32>,
    /// The ODPI-C code (`DPI-1047` → 1047).
    pub dpi: Option<i32>,
    pub message: String,
}

impl OraError {
    pub fn ora(code: i32, message: impl Into<String>) -> Self {
        OraError {
            ora: Some(code),
            dpi: None,
            message: message.into(),
        }
    }

    pub fn dpi(code: i32, message: impl Into<String>) -> Self {
        OraError {
            ora: None,
            dpi: Some(code),
            message: message.into(),
        }
    }

    /// A value the source could not convert, or another error with no Oracle code.
    pub fn other(message: impl Into<String>) -> Self {
        OraError {
            ora: None,
            dpi: None,
            message: message.into(),
        }
    }

    pub fn class(&self) -> ErrorClass {
        classify(self)
    }
}

impl fmt::Display for OraError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Driver messages already start with their code; add it only when they do not.
        match (self.ora, self.dpi) {
            (Some(c), _) if !self.message.contains("ORA-") => {
                write!(f, "ORA-{c:05}: {}", self.message)
            }
            (None, Some(c)) if !self.message.contains("DPI-") => {
                write!(f, "DPI-{c:04}: {}", self.message)
            }
            _ => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for OraError {}

/// What the source does about an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// The connection is gone or unusable: reconnect, start a new session, retry with backoff.
    Connection,
    /// The LogMiner session no longer matches the redo (a log switch raced the session, a log
    /// was archived and its online group reused): pick the logs again, retry with backoff.
    LogSwitchRace,
    /// The database is short of a resource or hit a LogMiner internal error known to pass
    /// (process memory, a stuck archiver, a recursive SQL failure): reconnect (which frees the
    /// session's memory), start a new session, retry with backoff.
    Transient,
    /// Retrying cannot help: stop the node and tell the operator `hint`.
    Fatal { hint: &'static str },
}

impl ErrorClass {
    pub fn is_retryable(self) -> bool {
        !matches!(self, ErrorClass::Fatal { .. })
    }
}

const HINT_CREDENTIALS: &str = "check `user` and the password (from `password_env` / \
     `password_file`); the account may also be locked or its password expired";
const HINT_PRIVILEGES: &str = "grant the privileges of docs/oracle.md (LOGMINING, SELECT ANY \
     TRANSACTION, SELECT on the V$ views, EXECUTE on DBMS_LOGMNR) and run `redoflow check-oracle`";
const HINT_CLIENT: &str = "install Oracle Instant Client (Basic or Basic Light, 19c or later) \
     and make it loadable: set LD_LIBRARY_PATH (or run ldconfig) to its directory";
const HINT_UNKNOWN: &str = "unexpected Oracle error: look up the code, fix the cause and restart \
     the node; `redoflow check-oracle` checks the usual setup problems";
const HINT_CONNECT_STRING: &str =
    "check `connect_string` (host, port and service name) and that the service is registered";
const HINT_CONVERSION: &str = "LogMiner returned a value redoflow cannot read; report it with the \
     row's SCN and XID";
const HINT_PDB: &str = "check `pdb`: the name must be a pluggable database of this CDB \
     (SELECT NAME FROM V$CONTAINERS), and the user a common user (C##...) with SET CONTAINER";

/// ORA codes that mean the connection (or the instance) is gone; a new connection may work.
const CONNECTION_LOST: &[i32] = &[
    28,    // your session has been killed
    31,    // session marked for kill
    1012,  // not logged on
    1013,  // user requested cancel of current operation (call timeout)
    1033,  // initialization or shutdown in progress
    1034,  // ORACLE not available
    1089,  // immediate shutdown or close in progress
    1090,  // shutdown in progress
    1092,  // ORACLE instance terminated
    2396,  // exceeded maximum idle time
    3113,  // end-of-file on communication channel
    3114,  // not connected to ORACLE
    3135,  // connection lost contact
    3136,  // inbound connection timed out
    12152, // unable to send break message
    12153, // not connected
    12157, // internal network communication error
    12170, // connect timeout occurred
    12505, // listener does not currently know of SID (instance restarting)
    12514, // listener does not currently know of service (instance restarting)
    12516, // listener could not find available handler
    12518, // listener could not hand off client connection
    12520, // listener could not find handler for requested type of server
    12521, // listener does not know of instance
    12528, // all appropriate instances are blocking new connections
    12535, // operation timed out
    12537, // connection closed
    12541, // no listener
    12543, // destination host unreachable
    12547, // lost contact
    12560, // protocol adapter error
    12571, // packet writer failure
    12582, // invalid operation (broken connection)
    25408, // can not safely replay call
    29257, // host unknown (DNS hiccup)
];

/// ORA codes of a LogMiner session that raced a log switch or an archiver.
const LOG_SWITCH_RACE: &[i32] = &[
    308,  // cannot open archived log
    310,  // archived log contains sequence X; sequence Y required (online group reused)
    334,  // archived log: ... (file being written)
    1284, // file cannot be opened
    1289, // cannot add duplicate logfile
    1291, // missing logfile
    1292, // no log file has been specified for the current LogMiner session
    1306, // START_LOGMNR must be invoked before selecting from V$LOGMNR_CONTENTS
    1307, // no LogMiner session is currently active
    1343, // LogMiner encountered corruption in the logstream (often a half-written log)
];

/// ORA codes worth a new connection and session after a backoff: the instance is short of a
/// resource, or LogMiner failed in a way a new session gets past (Debezium's
/// `OracleErrorHandler` retries ORA-00604 and ORA-04030 too).
const TRANSIENT: &[i32] = &[
    257,  // archiver error: connect internal only, until freed (archive destination full)
    604,  // error occurred at recursive SQL level 1
    4030, // out of process memory
    4036, // PGA memory used by the instance exceeds PGA_AGGREGATE_LIMIT
];

/// ORA-00600 arguments of LogMiner internal errors that a new session gets past (Debezium made
/// them retriable: DBZ-8125 `krvrdGetUID`, DBZ-5009 `krvrdccs10`, DBZ-8223 `krvrdccs30`).
const TRANSIENT_ORA_600: &[&str] = &["krvrdGetUID", "krvrdccs10", "krvrdccs30"];

/// ODPI-C codes of a dead connection.
const DPI_CONNECTION_LOST: &[i32] = &[
    1010, // not connected
    1067, // call timeout exceeded
    1080, // connection was closed by ORA-%d
];

/// Classifies an error. Unknown ORA codes are fatal: the node stops with the code and a hint, and
/// the supervisor's restart-after-failure (SPEC.md §9) retries later if the operator lets it.
pub fn classify(e: &OraError) -> ErrorClass {
    if let Some(code) = e.ora {
        if CONNECTION_LOST.contains(&code) {
            return ErrorClass::Connection;
        }
        if LOG_SWITCH_RACE.contains(&code) {
            return ErrorClass::LogSwitchRace;
        }
        if TRANSIENT.contains(&code)
            || (code == 600 && TRANSIENT_ORA_600.iter().any(|a| e.message.contains(a)))
        {
            return ErrorClass::Transient;
        }
        let hint = match code {
            1017 | 1005 | 28000 | 28001 | 1045 | 28009 | 28040 => HINT_CREDENTIALS,
            1031 | 942 | 1039 | 1749 | 44001 => HINT_PRIVILEGES,
            12154 | 12162 | 12262 => HINT_CONNECT_STRING,
            65011 | 65024 | 1435 => HINT_PDB,
            _ => HINT_UNKNOWN,
        };
        return ErrorClass::Fatal { hint };
    }
    match e.dpi {
        Some(c) if DPI_CONNECTION_LOST.contains(&c) => ErrorClass::Connection,
        Some(1047) | Some(1072) => ErrorClass::Fatal { hint: HINT_CLIENT },
        Some(_) => ErrorClass::Fatal { hint: HINT_UNKNOWN },
        None => ErrorClass::Fatal {
            hint: HINT_CONVERSION,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_of_codes() {
        let cases: &[(OraError, ErrorClass)] = &[
            (
                OraError::ora(3113, "end-of-file on communication channel"),
                ErrorClass::Connection,
            ),
            (OraError::ora(3114, "not connected"), ErrorClass::Connection),
            (OraError::ora(3135, "lost contact"), ErrorClass::Connection),
            (
                OraError::ora(12170, "connect timeout"),
                ErrorClass::Connection,
            ),
            (OraError::ora(12541, "no listener"), ErrorClass::Connection),
            (
                OraError::ora(1291, "missing logfile"),
                ErrorClass::LogSwitchRace,
            ),
            (
                OraError::ora(310, "archived log contains sequence 12"),
                ErrorClass::LogSwitchRace,
            ),
            (
                OraError::ora(1292, "no log file"),
                ErrorClass::LogSwitchRace,
            ),
            (
                OraError::ora(1017, "invalid username/password"),
                ErrorClass::Fatal {
                    hint: HINT_CREDENTIALS,
                },
            ),
            (
                OraError::ora(1031, "insufficient privileges"),
                ErrorClass::Fatal {
                    hint: HINT_PRIVILEGES,
                },
            ),
            (
                OraError::ora(942, "table or view does not exist"),
                ErrorClass::Fatal {
                    hint: HINT_PRIVILEGES,
                },
            ),
            (
                OraError::dpi(1047, "Cannot locate a 64-bit Oracle Client library"),
                ErrorClass::Fatal { hint: HINT_CLIENT },
            ),
            (
                OraError::dpi(1080, "connection was closed by ORA-3113"),
                ErrorClass::Connection,
            ),
            (OraError::dpi(1067, "call timeout"), ErrorClass::Connection),
            (
                OraError::ora(904, "invalid identifier"),
                ErrorClass::Fatal { hint: HINT_UNKNOWN },
            ),
            // Retried like a lost connection, as ORA-12514 is: the instance is restarting.
            (
                OraError::ora(12505, "listener does not currently know of SID"),
                ErrorClass::Connection,
            ),
            (
                OraError::ora(4030, "out of process memory when trying to allocate"),
                ErrorClass::Transient,
            ),
            (
                OraError::ora(
                    4036,
                    "PGA memory used by the instance exceeds PGA_AGGREGATE_LIMIT",
                ),
                ErrorClass::Transient,
            ),
            (
                OraError::ora(604, "error occurred at recursive SQL level 1"),
                ErrorClass::Transient,
            ),
            (
                OraError::ora(
                    257,
                    "Archiver error. Connect AS SYSDBA only until resolved.",
                ),
                ErrorClass::Transient,
            ),
            (
                OraError::ora(
                    600,
                    "ORA-00600: internal error code, arguments: [krvrdGetUID], [], [], []",
                ),
                ErrorClass::Transient,
            ),
            (
                OraError::ora(600, "internal error code, arguments: [krvrdccs10], [1], []"),
                ErrorClass::Transient,
            ),
            (
                OraError::ora(600, "internal error code, arguments: [krvrdccs30], [1], []"),
                ErrorClass::Transient,
            ),
            // Any other ORA-00600 is a bug to report, not to retry.
            (
                OraError::ora(600, "internal error code, arguments: [kcbgtcr_13], [], []"),
                ErrorClass::Fatal { hint: HINT_UNKNOWN },
            ),
        ];
        for (e, want) in cases {
            assert_eq!(classify(e), *want, "{e}");
        }
    }

    #[test]
    fn every_fatal_hint_tells_what_to_do() {
        for code in [1017, 1031, 942, 12154, 65011, 904] {
            let ErrorClass::Fatal { hint } = classify(&OraError::ora(code, "x")) else {
                panic!("{code} should be fatal");
            };
            assert!(hint.len() > 30, "{code}: {hint}");
        }
    }

    #[test]
    fn display_adds_the_code_once() {
        assert_eq!(
            OraError::ora(1291, "missing logfile").to_string(),
            "ORA-01291: missing logfile"
        );
        assert_eq!(
            OraError::ora(1291, "ORA-01291: missing logfile").to_string(),
            "ORA-01291: missing logfile"
        );
        assert_eq!(
            OraError::dpi(1047, "no client").to_string(),
            "DPI-1047: no client"
        );
    }
}

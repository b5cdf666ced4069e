//! The connection to pagerd: one channel, a client per service, `--timeout` on every call,
//! and the error kinds that decide the exit code.

use std::fmt;
use std::future::Future;
use std::io;
use std::time::Duration;

use anyhow::anyhow;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Status};

use pagerd::proto as pb;
use pb::alert_service_client::AlertServiceClient;
use pb::daemon_service_client::DaemonServiceClient;
use pb::incident_service_client::IncidentServiceClient;
use pb::intake_service_client::IntakeServiceClient;
use pb::report_service_client::ReportServiceClient;
use pb::schedule_service_client::ScheduleServiceClient;

use crate::render::time::format_duration;

/// pagerd did not answer at the transport level (exit 2).
#[derive(Debug)]
pub(crate) struct Unreachable {
    pub(crate) addr: String,
    pub(crate) reason: String,
}

impl fmt::Display for Unreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot reach pagerd at {} ({}). Is it running? Set --addr or PAGERD_ADDR.",
            self.addr, self.reason
        )
    }
}

impl std::error::Error for Unreachable {}

/// Arguments clap accepts but that make no sense together (exit 2).
#[derive(Debug)]
pub(crate) struct Usage(pub(crate) String);

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// The most useful cause of a connection failure: an I/O error's kind ("connection refused")
/// when there is one, otherwise the innermost message.
fn connect_reason(e: &(dyn std::error::Error + 'static)) -> String {
    let mut innermost = e;
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            return match io.kind() {
                io::ErrorKind::ConnectionRefused => "connection refused".into(),
                io::ErrorKind::TimedOut => "timed out".into(),
                _ => io.to_string(),
            };
        }
        innermost = err;
        cur = err.source();
    }
    innermost.to_string()
}

fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "ok",
        Code::Cancelled => "cancelled",
        Code::Unknown => "unknown error",
        Code::InvalidArgument => "invalid argument",
        Code::DeadlineExceeded => "deadline exceeded",
        Code::NotFound => "not found",
        Code::AlreadyExists => "already exists",
        Code::PermissionDenied => "permission denied",
        Code::ResourceExhausted => "resource exhausted",
        Code::FailedPrecondition => "failed precondition",
        Code::Aborted => "aborted",
        Code::OutOfRange => "out of range",
        Code::Unimplemented => "unimplemented",
        Code::Internal => "internal error",
        Code::Unavailable => "unavailable",
        Code::DataLoss => "data loss",
        Code::Unauthenticated => "unauthenticated",
    }
}

pub(crate) struct Pagerd {
    pub(crate) addr: String,
    pub(crate) timeout: Duration,
    pub(crate) channel: Channel,
    /// Added to a dropped connection's reason: what the user may have left out.
    pub(crate) hint: Option<&'static str>,
    pub(crate) token: BearerToken,
}

/// A channel that sends `authorization: Bearer TOKEN` on every call.
pub(crate) type Authed = InterceptedService<Channel, BearerToken>;

/// Adds the token to each request's metadata.
#[derive(Clone)]
pub(crate) struct BearerToken(Option<MetadataValue<Ascii>>);

impl BearerToken {
    /// `None`: send no token (pagerd then answers UNAUTHENTICATED, with its reason).
    pub(crate) fn new(token: Option<&str>) -> anyhow::Result<Self> {
        let value = token
            .map(|t| {
                format!("Bearer {}", t.trim())
                    .parse::<MetadataValue<Ascii>>()
                    .map_err(|_| Usage("the token has characters a header cannot carry".into()))
            })
            .transpose()?;
        Ok(Self(value))
    }
}

impl Interceptor for BearerToken {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert("authorization", v.clone());
        }
        Ok(req)
    }
}

impl Pagerd {
    pub(crate) async fn connect(
        addr: &str,
        timeout: Duration,
        tls: Option<ClientTlsConfig>,
        token: BearerToken,
    ) -> anyhow::Result<Self> {
        let unreachable = |reason: String| Unreachable {
            addr: addr.to_owned(),
            reason,
        };
        let mut endpoint = Endpoint::from_shared(addr.to_owned())
            .map_err(|e| unreachable(connect_reason(&e)))?
            .connect_timeout(timeout);
        if let Some(tls) = tls {
            endpoint = endpoint
                .tls_config(tls)
                .map_err(|e| unreachable(connect_reason(&e)))?;
        }
        let channel = tokio::time::timeout(timeout, endpoint.connect())
            .await
            .map_err(|_| unreachable(format!("no connection within {}", format_duration(timeout))))?
            .map_err(|e| unreachable(connect_reason(&e)))?;
        Ok(Self {
            addr: addr.to_owned(),
            timeout,
            channel,
            hint: None,
            token,
        })
    }

    pub(crate) fn alerts(&self) -> AlertServiceClient<Authed> {
        AlertServiceClient::with_interceptor(self.channel.clone(), self.token.clone())
    }

    pub(crate) fn incidents(&self) -> IncidentServiceClient<Authed> {
        IncidentServiceClient::with_interceptor(self.channel.clone(), self.token.clone())
    }

    pub(crate) fn intake(&self) -> IntakeServiceClient<Authed> {
        IntakeServiceClient::with_interceptor(self.channel.clone(), self.token.clone())
    }

    pub(crate) fn schedules(&self) -> ScheduleServiceClient<Authed> {
        ScheduleServiceClient::with_interceptor(self.channel.clone(), self.token.clone())
    }

    pub(crate) fn reports(&self) -> ReportServiceClient<Authed> {
        ReportServiceClient::with_interceptor(self.channel.clone(), self.token.clone())
    }

    pub(crate) fn daemon(&self) -> DaemonServiceClient<Authed> {
        DaemonServiceClient::with_interceptor(self.channel.clone(), self.token.clone())
    }

    /// Awaits one call within `--timeout`, mapping a gRPC status to a one-line error.
    pub(crate) async fn call<T>(
        &self,
        call: impl Future<Output = Result<tonic::Response<T>, Status>>,
    ) -> anyhow::Result<T> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(reply)) => Ok(reply.into_inner()),
            Ok(Err(status)) => Err(self.status_error(status)),
            Err(_) => Err(anyhow!(
                "no reply from pagerd at {} within {} (--timeout); a change may or may not have been applied",
                self.addr,
                format_duration(self.timeout)
            )),
        }
    }

    pub(crate) fn status_error(&self, status: Status) -> anyhow::Error {
        let message = status.message();
        // A connection the server dropped (a TLS alert such as "certificate required" on a
        // daemon that wants client certificates) surfaces as a status with a transport cause.
        if matches!(status.code(), Code::Cancelled | Code::Unknown)
            && let Some(cause) = std::error::Error::source(&status)
        {
            let mut reason = connect_reason(cause);
            if let Some(hint) = self.hint {
                reason = format!("{reason}; {hint}");
            }
            return Unreachable {
                addr: self.addr.clone(),
                reason,
            }
            .into();
        }
        match status.code() {
            Code::Unavailable => {
                let mut reason = if message.is_empty() {
                    "unavailable".to_owned()
                } else {
                    message.to_owned()
                };
                if let Some(hint) = self.hint {
                    reason = format!("{reason}; {hint}");
                }
                Unreachable {
                    addr: self.addr.clone(),
                    reason,
                }
                .into()
            }
            Code::Unimplemented => anyhow!(
                "unimplemented: {message} (is {} the gRPC address of pagerd?)",
                self.addr
            ),
            code => anyhow!("{}: {message}", code_name(code)),
        }
    }
}

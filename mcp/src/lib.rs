//! `keeperdb mcp`: the Model Context Protocol over stdio, a thin shell over
//! [`keeperdb_core::agent`]. Every rule (what is exposed, read-only sessions, the
//! read-only-state guard, writes and their confirmation, caps, timeouts, the audit log) lives
//! in the core; this crate speaks the protocol, runs the core's blocking calls on tokio's
//! blocking pool, asks the user through MCP elicitation, and turns a client's cancel into the
//! core's [`CancelHandle`].

use std::sync::Arc;
use std::time::Duration;

use keeperdb_core::App;
use keeperdb_core::agent::{
    Agent, AgentError, AgentErrorKind, CancelHandle, Confirmation, Plan, QueryResult, Tool,
};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ServerCapabilities, ServerConfig};
use rmcp::service::{ElicitationError, RequestContext};
use rmcp::{ErrorData as McpError, Peer, RoleServer, ServerHandler, ServiceExt};
use rmcp::{tool, tool_handler, tool_router};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

/// How long the user has to answer a write confirmation before it counts as refused.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(300);

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The core refused to start the agent side (preferences, audit log).
    #[error(transparent)]
    Agent(#[from] AgentError),
    /// The async runtime could not start.
    #[error("cannot start the MCP server's runtime: {0}")]
    Runtime(std::io::Error),
    /// The protocol failed (a client that is not MCP, a closed pipe during the handshake).
    #[error("MCP: {0}")]
    Protocol(String),
}

impl ServeError {
    /// The core's kind for it, for shells that map it to exit codes.
    pub fn kind(&self) -> AgentErrorKind {
        match self {
            ServeError::Agent(e) => e.kind(),
            ServeError::Runtime(_) | ServeError::Protocol(_) => AgentErrorKind::Config,
        }
    }
}

/// Serve MCP on stdin/stdout until the client goes away. `only` replaces the preference
/// `mcp.connections` as the list of exposed connections.
pub fn serve_stdio(app: App, only: Option<Vec<String>>) -> Result<(), ServeError> {
    let agent = Agent::open(Arc::new(app), only)?;
    if agent.policy().exposed.is_empty() {
        tracing::warn!("no connection is exposed to agents: the server lists none");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;
    runtime.block_on(async move {
        let service = KeeperdbMcp::new(agent)
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| ServeError::Protocol(e.to_string()))?;
        service
            .waiting()
            .await
            .map_err(|e| ServeError::Protocol(e.to_string()))?;
        Ok(())
    })
}

/// The MCP server: the core's agent behind four tools.
#[derive(Clone)]
pub struct KeeperdbMcp {
    agent: Arc<Agent>,
    tool_router: ToolRouter<Self>,
}

/// Arguments naming a connection and SQL.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct SqlArgs {
    /// An exposed connection's name (or id), as `list_connections` shows it.
    pub connection: String,
    /// The SQL: one statement, or several separated by `;`.
    pub sql: String,
}

/// Arguments of `describe`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct DescribeArgs {
    /// An exposed connection's name (or id), as `list_connections` shows it.
    pub connection: String,
    /// Only this schema's (or database's) tables.
    pub schema: Option<String>,
    /// This table, with its columns.
    pub table: Option<String>,
}

/// What the user answers when asked to confirm a write.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct WriteConsent {
    /// Run this statement once.
    pub confirm: bool,
}
rmcp::elicit_safe!(WriteConsent);

/// A core failure as a tool error the agent can read: the message and its kind.
fn tool_error(e: &AgentError) -> CallToolResult {
    let kind = match e.kind() {
        AgentErrorKind::Refused => "refused",
        AgentErrorKind::Config => "config",
        AgentErrorKind::Connection => "connection",
        AgentErrorKind::Query => "query",
        AgentErrorKind::Timeout => "timeout",
        AgentErrorKind::Cancelled => "cancelled",
        AgentErrorKind::Source => "source",
    };
    CallToolResult::structured_error(serde_json::json!({ "error": e.to_string(), "kind": kind }))
}

fn structured(value: &impl serde::Serialize) -> Result<CallToolResult, McpError> {
    let value = serde_json::to_value(value)
        .map_err(|e| McpError::internal_error(format!("cannot encode the result: {e}"), None))?;
    Ok(CallToolResult::structured(value))
}

fn join_failed(e: tokio::task::JoinError) -> McpError {
    McpError::internal_error(format!("the call failed inside keeperdb: {e}"), None)
}

/// Run a blocking core call on the blocking pool; when the client cancels the request, fire
/// the core's cancel handle (which cancels the statement on the server).
async fn blocking<T: Send + 'static>(
    ct: CancellationToken,
    work: impl FnOnce(&Arc<CancelHandle>) -> T + Send + 'static,
) -> Result<T, McpError> {
    let cancel = CancelHandle::new();
    let watcher = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            ct.cancelled().await;
            tracing::info!("the client cancelled the call; cancelling on the server");
            cancel.cancel();
        })
    };
    let out = tokio::task::spawn_blocking(move || work(&cancel)).await;
    watcher.abort();
    out.map_err(join_failed)
}

/// Ask the user, through the client, to confirm a write.
async fn confirm(peer: &Peer<RoleServer>, plan: &Plan) -> Confirmation {
    match peer
        .elicit_with_timeout::<WriteConsent>(plan.confirmation_prompt(), Some(CONFIRM_TIMEOUT))
        .await
    {
        Ok(Some(WriteConsent { confirm: true })) => Confirmation::Confirmed,
        Ok(_) => Confirmation::Refused("the user did not confirm".into()),
        Err(ElicitationError::CapabilityNotSupported) => Confirmation::Refused(
            "the MCP client cannot ask the user (it does not support elicitation)".into(),
        ),
        Err(ElicitationError::UserDeclined) => Confirmation::Refused("the user declined".into()),
        Err(ElicitationError::UserCancelled) => {
            Confirmation::Refused("the user dismissed the question".into())
        }
        Err(e) => Confirmation::Refused(format!("asking the user failed: {e}")),
    }
}

#[tool_router]
impl KeeperdbMcp {
    /// The server over an opened agent.
    pub fn new(agent: Agent) -> Self {
        Self {
            agent: Arc::new(agent),
            tool_router: Self::tool_router(),
        }
    }

    /// Check, confirm (for a write) and run a request.
    async fn query_or_explain(
        &self,
        args: SqlArgs,
        tool: Tool,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let agent = self.agent.clone();
        let SqlArgs { connection, sql } = args;
        let checked = blocking(ctx.ct.clone(), move |_| {
            agent.check(&connection, &sql, tool)
        })
        .await?;
        let plan = match checked {
            Ok(plan) => plan,
            Err(e) => return Ok(tool_error(&e)),
        };
        let confirmation = if plan.needs_confirmation() {
            confirm(&ctx.peer, &plan).await
        } else {
            Confirmation::NotAsked
        };
        let agent = self.agent.clone();
        let ran: Result<QueryResult, AgentError> = blocking(ctx.ct.clone(), move |cancel| {
            agent.run(plan, confirmation, cancel)
        })
        .await?;
        match ran {
            Ok(result) => structured(&result),
            Err(e) => Ok(tool_error(&e)),
        }
    }

    /// `list_connections`.
    #[tool(
        description = "List the database connections the user exposed to agents: name, id, source badge (Local, Vault, ...), engine, environment, and whether agents may write on it. Never credentials."
    )]
    async fn list_connections(
        &self,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let agent = self.agent.clone();
        let exposure = blocking(ctx.ct, move |_| agent.connections()).await?;
        structured(&exposure)
    }

    /// `describe`.
    #[tool(
        description = "Describe an exposed connection's catalog: its schemas (or databases) and tables; with `table`, that table's columns (name, type, nullable, default)."
    )]
    async fn describe(
        &self,
        Parameters(args): Parameters<DescribeArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let agent = self.agent.clone();
        let described = blocking(ctx.ct, move |cancel| {
            agent.describe(
                &args.connection,
                args.schema.as_deref(),
                args.table.as_deref(),
                cancel,
            )
        })
        .await?;
        match described {
            Ok(catalog) => structured(&catalog),
            Err(e) => Ok(tool_error(&e)),
        }
    }

    /// `query`.
    #[tool(
        description = "Run SQL on an exposed connection, in a read-only session. Returns columns and rows (arrays in column order) under a row and size cap; `truncated` says when rows were cut. Statements that may write are refused unless the user allowed writes on that connection, and then run only after the user confirms each one. Statements that would lift read-only are always refused."
    )]
    async fn query(
        &self,
        Parameters(args): Parameters<SqlArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        self.query_or_explain(args, Tool::Query, ctx).await
    }

    /// `explain`.
    #[tool(
        description = "Show the engine's plan for one SQL statement on an exposed connection, without running it (PostgreSQL and MariaDB EXPLAIN, SQLite EXPLAIN QUERY PLAN)."
    )]
    async fn explain(
        &self,
        Parameters(args): Parameters<SqlArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        self.query_or_explain(args, Tool::Explain, ctx).await
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for KeeperdbMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build()).with_instructions(
            "keeperdb: the user's database connections, without their credentials. Call list_connections first. Queries run read-only; writes need the user's leave and confirmation.",
        )
    }
}

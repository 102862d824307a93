//! The schema tree, loaded a level at a time on the connection's catalog session, and opening
//! a table (its first page, the SQL quoted for the engine).

use axum::Json;
use axum::extract::{Query, State};
use keeperdb_core::sql::select_all_sql;
use serde::Deserialize;

use super::query::{run_answer, worker};
use super::{Answer, Body, Shared};
use crate::worker::{CatalogAsk, Role};

#[derive(Deserialize)]
pub struct Level {
    connection: String,
    schema: Option<String>,
    table: Option<String>,
}

async fn ask(state: &Shared, connection: &str, ask: CatalogAsk) -> Answer {
    let worker = worker(state, connection, Role::Catalog).await?;
    Ok(Json(worker.catalog(ask).await?))
}

fn blank_is_none(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

pub async fn databases(State(state): State<Shared>, Query(l): Query<Level>) -> Answer {
    ask(&state, &l.connection, CatalogAsk::Databases).await
}

pub async fn tables(State(state): State<Shared>, Query(l): Query<Level>) -> Answer {
    let schema = blank_is_none(l.schema);
    ask(&state, &l.connection, CatalogAsk::Tables { schema }).await
}

pub async fn columns(State(state): State<Shared>, Query(l): Query<Level>) -> Answer {
    let Some(table) = blank_is_none(l.table) else {
        return Err(crate::error::ApiError::invalid(
            "which table? `table` is missing",
        ));
    };
    let schema = blank_is_none(l.schema);
    ask(&state, &l.connection, CatalogAsk::Columns { schema, table }).await
}

#[derive(Deserialize)]
pub struct Open {
    connection: String,
    schema: Option<String>,
    table: String,
}

pub async fn open(State(state): State<Shared>, Body(o): Body<Open>) -> Answer {
    let worker = worker(&state, &o.connection, Role::Query).await?;
    let sql = select_all_sql(&worker.engine, blank_is_none(o.schema).as_deref(), &o.table);
    Ok(run_answer(worker.run(vec![sql], false).await?))
}

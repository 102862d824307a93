use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};

use arrow_array::builder::{Int32Builder, ListBuilder, StringBuilder};
use arrow_array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch,
    StringArray, TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

use super::*;

/// A `Write` that records what reached it and how many times it was flushed.
#[derive(Clone, Default)]
struct Sink {
    data: Arc<Mutex<Vec<u8>>>,
    flushes: Arc<Mutex<usize>>,
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.data.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        *self.flushes.lock().unwrap() += 1;
        Ok(())
    }
}

impl Sink {
    fn text(&self) -> String {
        String::from_utf8(self.data.lock().unwrap().clone()).unwrap()
    }
}

fn typed(name: &str, dt: DataType, engine_type: &str) -> Field {
    Field::new(name, dt, true).with_metadata(HashMap::from([(
        cell::ENGINE_TYPE_KEY.to_string(),
        engine_type.to_string(),
    )]))
}

fn render(
    format: OutputFormat,
    engine: Option<Engine>,
    batches: &[RecordBatch],
    schema: SchemaRef,
) -> String {
    let opts = FormatOptions {
        engine,
        footer: true,
        ..FormatOptions::default()
    };
    render_with(format, &opts, batches, schema)
}

fn render_with(
    format: OutputFormat,
    opts: &FormatOptions,
    batches: &[RecordBatch],
    schema: SchemaRef,
) -> String {
    let sink = Sink::default();
    let opts = opts.clone();
    let mut w = writer(format, schema, &opts, Box::new(sink.clone()));
    for b in batches {
        w.write_batch(b).unwrap();
    }
    w.finish().unwrap();
    sink.text()
}

fn people() -> (SchemaRef, RecordBatch) {
    let schema = Arc::new(Schema::new(vec![
        typed("id", DataType::Int32, "int4"),
        typed("name", DataType::Utf8, "text"),
        typed("ok", DataType::Boolean, "bool"),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int32Array::from(vec![Some(1), Some(2), None])) as ArrayRef,
            Arc::new(StringArray::from(vec![Some(""), None, Some("a,\"b\"\nc")])),
            Arc::new(BooleanArray::from(vec![Some(true), Some(false), None])),
        ],
    )
    .unwrap();
    (schema, batch)
}

#[test]
fn csv_tells_null_from_empty_and_quotes_like_psql() {
    let (schema, batch) = people();
    let out = render(OutputFormat::Csv, Some(Engine::POSTGRES), &[batch], schema);
    assert_eq!(out, "id,name,ok\n1,\"\",t\n2,,f\n,\"a,\"\"b\"\"\nc\",\n");
}

#[test]
fn csv_header_is_written_once_across_pages_and_each_page_is_flushed() {
    let (schema, batch) = people();
    let sink = Sink::default();
    let mut w = writer(
        OutputFormat::Csv,
        schema,
        &FormatOptions::default(),
        Box::new(sink.clone()),
    );
    w.write_batch(&batch).unwrap();
    let after_first = sink.text();
    assert!(
        after_first.ends_with(",\n"),
        "first page reached the output before the second: {after_first:?}"
    );
    w.write_batch(&batch).unwrap();
    w.finish().unwrap();
    assert_eq!(sink.text().matches("id,name,ok").count(), 1);
    assert_eq!(w.rows(), 6);
    assert!(*sink.flushes.lock().unwrap() >= 2);
}

#[test]
fn empty_result_still_has_a_header() {
    let (schema, _) = people();
    assert_eq!(
        render(OutputFormat::Csv, None, &[], schema.clone()),
        "id,name,ok\n"
    );
    assert_eq!(
        render(OutputFormat::Json, None, &[], schema.clone()),
        "[]\n"
    );
    assert_eq!(render(OutputFormat::Jsonl, None, &[], schema.clone()), "");
    let table = render(OutputFormat::Table, None, &[], schema);
    assert!(table.contains(" id | name | ok"), "{table}");
    assert!(table.ends_with("(0 rows)\n"), "{table}");
}

#[test]
fn json_keeps_types_and_null() {
    let (schema, batch) = people();
    let out = render(
        OutputFormat::Json,
        Some(Engine::POSTGRES),
        &[batch.clone(), batch],
        schema.clone(),
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 6);
    assert_eq!(rows[0]["id"], 1);
    assert_eq!(rows[0]["name"], "");
    assert_eq!(rows[0]["ok"], true);
    assert!(rows[1]["name"].is_null());
    assert!(rows[2]["id"].is_null());
    assert_eq!(rows[2]["name"], "a,\"b\"\nc");
    let (_, batch) = people();
    let lines = render(OutputFormat::Jsonl, None, &[batch], schema);
    assert_eq!(lines.lines().count(), 3);
    for l in lines.lines() {
        serde_json::from_str::<serde_json::Value>(l).unwrap();
    }
}

#[test]
fn json_columns_are_embedded_and_arrays_become_arrays() {
    let mut list = ListBuilder::new(Int32Builder::new());
    list.values().append_value(1);
    list.values().append_null();
    list.values().append_value(3);
    list.append(true);
    list.append(false);
    let mut texts = ListBuilder::new(StringBuilder::new());
    texts.values().append_value("a b");
    texts.values().append_value("");
    texts.values().append_value("NULL");
    texts.values().append_value("x\"y");
    texts.values().append_value("plain");
    texts.append(true);
    texts.append(true);
    let list = list.finish();
    let texts = texts.finish();
    let schema = Arc::new(Schema::new(vec![
        typed("doc", DataType::Utf8, "jsonb"),
        typed("ints", list.data_type().clone(), "_int4"),
        typed("texts", texts.data_type().clone(), "_text"),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(vec![Some(r#"{"a": [1, 2]}"#), None])) as ArrayRef,
            Arc::new(list),
            Arc::new(texts),
        ],
    )
    .unwrap();
    let csv = render(
        OutputFormat::Csv,
        Some(Engine::POSTGRES),
        std::slice::from_ref(&batch),
        schema.clone(),
    );
    assert_eq!(
        csv,
        "doc,ints,texts\n\"{\"\"a\"\": [1, 2]}\",\"{1,NULL,3}\",\"{\"\"a b\"\",\"\"\"\",\"\"NULL\"\",\"\"x\\\"\"y\"\",plain}\"\n,,{}\n"
    );
    let json = render(OutputFormat::Json, Some(Engine::POSTGRES), &[batch], schema);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v[0]["doc"]["a"][1], 2);
    assert_eq!(v[0]["ints"], serde_json::json!([1, null, 3]));
    assert_eq!(v[0]["texts"][1], "");
    assert!(v[1]["ints"].is_null());
    assert_eq!(v[1]["texts"], serde_json::json!([]));
}

#[test]
fn engine_conventions_for_binary_booleans_and_timestamps() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("b", DataType::Binary, true),
        Field::new("ok", DataType::Boolean, true),
        Field::new(
            "at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new("f", DataType::Float64, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(BinaryArray::from(vec![Some(&b"\xde\xad"[..])])) as ArrayRef,
            Arc::new(BooleanArray::from(vec![Some(true)])),
            Arc::new(
                TimestampMicrosecondArray::from(vec![Some(1_704_164_645_123_456)])
                    .with_timezone("UTC"),
            ),
            Arc::new(Float64Array::from(vec![Some(1e30)])),
        ],
    )
    .unwrap();
    let pg = render(
        OutputFormat::Csv,
        Some(Engine::POSTGRES),
        std::slice::from_ref(&batch),
        schema.clone(),
    );
    assert_eq!(
        pg.lines().nth(1).unwrap(),
        "\\xdead,t,2024-01-02 03:04:05.123456+00,1e+30"
    );
    let my = render(
        OutputFormat::Csv,
        Some(Engine::MARIADB),
        std::slice::from_ref(&batch),
        schema.clone(),
    );
    assert_eq!(
        my.lines().nth(1).unwrap(),
        "0xDEAD,1,2024-01-02 03:04:05.123456,1e+30"
    );
    let lite = render(OutputFormat::Csv, Some(Engine::SQLITE), &[batch], schema);
    assert_eq!(
        lite.lines().nth(1).unwrap(),
        // sqlite3 always shows a REAL's decimal point.
        "X'DEAD',1,2024-01-02 03:04:05.123456,1.0e+30"
    );
}

#[test]
fn markdown_escapes_and_marks_null() {
    let (schema, batch) = people();
    let out = render(
        OutputFormat::Markdown,
        Some(Engine::POSTGRES),
        &[batch],
        schema,
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "| id | name | ok |");
    assert_eq!(lines[1], "| ---: | --- | --- |");
    assert_eq!(lines[2], "| 1 |  | t |");
    assert_eq!(lines[3], "| 2 | *NULL* | f |");
    assert_eq!(lines[4], "| *NULL* | a,\"b\"<br>c | *NULL* |");
}

#[test]
fn expanded_display_shows_one_block_per_row_with_values_whole() {
    let (schema, batch) = people();
    let out = render(
        OutputFormat::Expanded,
        Some(Engine::POSTGRES),
        &[batch],
        schema,
    );
    let expected = "\
-[ RECORD 1 ]
id   | 1
name | 
ok   | t
-[ RECORD 2 ]
id   | 2
name | NULL
ok   | f
-[ RECORD 3 ]--
id   | NULL
name | a,\"b\"\\nc
ok   | NULL
";
    assert_eq!(out, expected);
}

#[test]
fn expanded_display_of_no_rows_says_so() {
    let (schema, _) = people();
    let out = render(OutputFormat::Expanded, Some(Engine::POSTGRES), &[], schema);
    assert_eq!(out, "(0 rows)\n");
}

#[test]
fn the_null_display_text_is_used_in_table_and_expanded_and_escaped() {
    let (schema, batch) = people();
    let opts = FormatOptions {
        engine: Some(Engine::POSTGRES),
        null: Some("(null)\u{1b}".into()),
        ..FormatOptions::default()
    };
    let table = render_with(
        OutputFormat::Table,
        &opts,
        std::slice::from_ref(&batch),
        schema.clone(),
    );
    assert!(table.contains("\n (null)\u{fffd} |"), "{table}");
    assert!(!table.contains("NULL"), "{table}");
    let expanded = render_with(
        OutputFormat::Expanded,
        &opts,
        std::slice::from_ref(&batch),
        schema.clone(),
    );
    assert!(expanded.contains("name | (null)\u{fffd}\n"), "{expanded}");
    // Formats for scripts keep their own NULL.
    let csv = render_with(OutputFormat::Csv, &opts, &[batch], schema);
    assert!(!csv.contains("(null)"), "{csv}");
}

#[test]
fn a_table_cuts_values_wider_than_the_limit_and_says_so() {
    let schema = Arc::new(Schema::new(vec![Field::new("word", DataType::Utf8, true)]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(StringArray::from(vec![
            Some("abcdefghij"),
            Some("日本語です"),
            Some("short"),
        ])) as ArrayRef],
    )
    .unwrap();
    let opts = FormatOptions {
        max_width: Some(6),
        ..FormatOptions::default()
    };
    let out = render_with(
        OutputFormat::Table,
        &opts,
        std::slice::from_ref(&batch),
        schema.clone(),
    );
    let expected = "  word\n--------\n abcde…\n 日本…\n short\n(values longer than 6 characters are cut; expanded display shows them whole)\n";
    assert_eq!(out, expected);
    // Without a limit, or when nothing is as wide, there is no note.
    let whole = render_with(
        OutputFormat::Table,
        &FormatOptions::default(),
        &[batch],
        schema,
    );
    assert!(
        whole.contains("abcdefghij") && !whole.contains("cut"),
        "{whole}"
    );
}

#[test]
fn table_aligns_numbers_right_and_counts_rows() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("n", DataType::Int64, true),
        Field::new("word", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(vec![Some(7), Some(12345), None])) as ArrayRef,
            Arc::new(StringArray::from(vec![
                Some("héllo"),
                Some("日本"),
                Some(""),
            ])),
        ],
    )
    .unwrap();
    let out = render(
        OutputFormat::Table,
        Some(Engine::POSTGRES),
        &[batch],
        schema,
    );
    let expected =
        "   n   | word\n-------+-------\n     7 | héllo\n 12345 | 日本\n  NULL | \n(3 rows)\n";
    assert_eq!(out, expected);
}

#[test]
fn format_names_parse_and_bad_ones_are_named() {
    for f in OutputFormat::ALL {
        assert_eq!(f.as_str().parse::<OutputFormat>(), Ok(f));
    }
    let err = "xml".parse::<OutputFormat>().unwrap_err();
    assert!(err.to_string().contains("`xml`"));
}

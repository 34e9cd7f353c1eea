//! The optional roster (`users.parquet`): who is on which team.

use crate::hash_str;
use chrono::NaiveDate;

/// One person on the roster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterEntry {
    /// The person's id, as in the events' `user_id`.
    pub user_id: String,
    /// Team (the default peer cohort).
    pub team: Option<String>,
    /// Role or job family.
    pub role: Option<String>,
    /// First day at the company (tenure).
    pub start_date: Option<NaiveDate>,
}

/// The roster: entries sorted by `hash_str(user_id)` for lookup by hash.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roster {
    entries: Vec<(u64, RosterEntry)>,
}

impl Roster {
    /// Builds a roster; when a user id appears twice the first entry wins.
    ///
    /// ```
    /// use goodhart_schema::{hash_str, Roster, RosterEntry};
    /// let r = Roster::new(vec![RosterEntry {
    ///     user_id: "u1".into(), team: Some("infra".into()), role: None, start_date: None,
    /// }]);
    /// assert_eq!(r.get(hash_str("u1")).unwrap().team.as_deref(), Some("infra"));
    /// assert!(r.get(hash_str("u2")).is_none());
    /// ```
    pub fn new(entries: Vec<RosterEntry>) -> Roster {
        // Stable sort by hash keeps input order among equal hashes, so after
        // dedup the first entry of a duplicated user id wins.
        let mut v: Vec<(u64, RosterEntry)> = entries
            .into_iter()
            .map(|e| (hash_str(&e.user_id), e))
            .collect();
        v.sort_by_key(|(h, _)| *h);
        v.dedup_by_key(|(h, _)| *h);
        Roster { entries: v }
    }

    /// Looks a user up by `hash_str(user_id)`.
    pub fn get(&self, user_hash: u64) -> Option<&RosterEntry> {
        self.entries
            .binary_search_by_key(&user_hash, |(h, _)| *h)
            .ok()
            .map(|i| &self.entries[i].1)
    }

    /// Number of people on the roster.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the roster is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries in hash order.
    pub fn iter(&self) -> impl Iterator<Item = &RosterEntry> {
        self.entries.iter().map(|(_, e)| e)
    }
}

/// Builds a [`Roster`] from the Arrow batches of a roster table (`users.parquet`).
///
/// `user_id` is required (string type, no nulls); `team` and `role` are
/// optional nullable strings; `start_date` is an optional nullable Date32
/// (Date64 and Timestamp are accepted too). Unknown columns are ignored.
/// `source` labels the table in errors.
///
/// ```
/// use arrow::array::StringArray;
/// use arrow::record_batch::RecordBatch;
/// use goodhart_schema::{hash_str, roster_from_batches};
/// use std::sync::Arc;
/// let b = RecordBatch::try_from_iter([
///     ("user_id", Arc::new(StringArray::from(vec!["u1", "u2"])) as _),
///     ("team", Arc::new(StringArray::from(vec![Some("infra"), None])) as _),
/// ]).unwrap();
/// let r = roster_from_batches(&[b], "users.parquet").unwrap();
/// assert_eq!(r.len(), 2);
/// assert_eq!(r.get(hash_str("u1")).unwrap().team.as_deref(), Some("infra"));
/// assert_eq!(r.get(hash_str("u2")).unwrap().team, None);
/// ```
pub fn roster_from_batches(
    batches: &[arrow::record_batch::RecordBatch],
    source: &str,
) -> Result<Roster, crate::SchemaError> {
    use crate::check::{check_column, ROSTER_COLUMNS};
    let mut entries = Vec::new();
    let mut row: u64 = 0;
    for b in batches {
        let schema = b.schema();
        let idx: Vec<Option<usize>> = ROSTER_COLUMNS
            .iter()
            .map(|spec| check_column(spec, &schema, source))
            .collect::<Result<_, _>>()?;
        let user = text_values(b.column(idx[0].expect("required")).as_ref(), source)?;
        let team = idx[1]
            .map(|i| text_values(b.column(i).as_ref(), source))
            .transpose()?;
        let role = idx[2]
            .map(|i| text_values(b.column(i).as_ref(), source))
            .transpose()?;
        let start = idx[3]
            .map(|i| date_values(b.column(i).as_ref()))
            .transpose()?;
        for i in 0..b.num_rows() {
            let Some(user_id) = user[i].clone() else {
                return Err(crate::SchemaError::NullRosterUser {
                    file: source.to_string(),
                    row: row + i as u64,
                });
            };
            entries.push(RosterEntry {
                user_id,
                team: team.as_ref().and_then(|t| t[i].clone()),
                role: role.as_ref().and_then(|r| r[i].clone()),
                start_date: start.as_ref().and_then(|s| s[i]),
            });
        }
        row += b.num_rows() as u64;
    }
    Ok(Roster::new(entries))
}

/// String-like column -> owned strings (roster tables are small).
fn text_values(
    a: &dyn arrow::array::Array,
    source: &str,
) -> Result<Vec<Option<String>>, crate::SchemaError> {
    use arrow::array::AsArray;
    use arrow::datatypes::DataType;
    // Casting to Utf8 unifies LargeUtf8, Utf8View and dictionaries; a roster is
    // small, so the copy does not matter.
    let s = match a.data_type() {
        DataType::Null => return Ok(vec![None; a.len()]),
        DataType::Utf8 => None,
        _ => Some(arrow::compute::cast(a, &DataType::Utf8).map_err(|e| {
            crate::SchemaError::Arrow {
                file: source.to_string(),
                column: "roster",
                message: e.to_string(),
            }
        })?),
    };
    let arr = s.as_deref().unwrap_or(a).as_string::<i32>();
    Ok(arr.iter().map(|v| v.map(str::to_string)).collect())
}

fn date_values(a: &dyn arrow::array::Array) -> Result<Vec<Option<NaiveDate>>, crate::SchemaError> {
    use arrow::array::AsArray;
    use arrow::datatypes::{DataType, Date32Type, Date64Type, TimeUnit};
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    let from_days = |d: i64| epoch.checked_add_signed(chrono::Duration::try_days(d)?);
    let scaled = |a: &dyn arrow::array::Array, per_day: i64| -> Vec<Option<NaiveDate>> {
        // Every Timestamp/Date64 array stores i64 values.
        let v: Vec<Option<i64>> = match a.data_type() {
            DataType::Date64 => a.as_primitive::<Date64Type>().iter().collect(),
            DataType::Timestamp(TimeUnit::Second, _) => a
                .as_primitive::<arrow::datatypes::TimestampSecondType>()
                .iter()
                .collect(),
            DataType::Timestamp(TimeUnit::Millisecond, _) => a
                .as_primitive::<arrow::datatypes::TimestampMillisecondType>()
                .iter()
                .collect(),
            DataType::Timestamp(TimeUnit::Microsecond, _) => a
                .as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                .iter()
                .collect(),
            _ => a
                .as_primitive::<arrow::datatypes::TimestampNanosecondType>()
                .iter()
                .collect(),
        };
        v.into_iter()
            .map(|x| x.and_then(|x| from_days(x.div_euclid(per_day))))
            .collect()
    };
    Ok(match a.data_type() {
        DataType::Null => vec![None; a.len()],
        DataType::Date32 => a
            .as_primitive::<Date32Type>()
            .iter()
            .map(|d| d.and_then(|d| from_days(i64::from(d))))
            .collect(),
        DataType::Date64 => scaled(a, 86_400_000),
        DataType::Timestamp(TimeUnit::Second, _) => scaled(a, 86_400),
        DataType::Timestamp(TimeUnit::Millisecond, _) => scaled(a, 86_400_000),
        DataType::Timestamp(TimeUnit::Microsecond, _) => scaled(a, 86_400_000_000),
        _ => scaled(a, 86_400_000_000_000),
    })
}

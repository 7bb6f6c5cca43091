//! User rows: sealed personal fields, blind indexes (with the key version they were
//! computed under) and, when keys share the main database, the user's wrapped data key.

use std::collections::HashSet;

use chrono::NaiveDateTime;
use diesel::pg::{Pg, PgConnection};
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Array, Binary, Bool, Integer, Nullable, Timestamp, Untyped};

use super::schema::{api_clients, data_keys, users};
use super::wrap_floor;
use super::{DbConnection, DbError};
use crate::id::UserId;

/// A stored user, every personal value still sealed.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: UserId,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub first_name: Vec<u8>,
    pub last_name: Vec<u8>,
    pub email: Vec<u8>,
    pub phone: Option<Vec<u8>>,
    pub national_id: Option<Vec<u8>>,
    pub date_of_birth: Option<Vec<u8>>,
    pub address: Option<Vec<u8>>,
}

/// A new user as inserted: sealed fields plus the blind indexes that find it.
#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
#[diesel(treat_none_as_default_value = false)] // an absent field is NULL, as `COPY` needs
pub struct NewUserRow {
    pub id: UserId,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub email_index: Vec<u8>,
    pub phone_index: Option<Vec<u8>>,
    pub national_id_index: Option<Vec<u8>>,
    pub first_name: Vec<u8>,
    pub last_name: Vec<u8>,
    pub email: Vec<u8>,
    pub phone: Option<Vec<u8>>,
    pub national_id: Option<Vec<u8>>,
    pub date_of_birth: Option<Vec<u8>>,
    pub address: Option<Vec<u8>>,
    pub index_version: i32,
}

/// What the blind-index job reads to recompute a user's indexes.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct IndexSourceRow {
    pub id: UserId,
    pub index_version: i32,
    pub email: Vec<u8>,
    pub phone: Option<Vec<u8>>,
    pub national_id: Option<Vec<u8>>,
}

/// A user's indexes recomputed under another key version.
#[derive(Debug)]
pub struct Reindexed {
    pub id: UserId,
    pub old_version: i32,
    pub email_index: Vec<u8>,
    pub phone_index: Option<Vec<u8>>,
    pub national_id_index: Option<Vec<u8>>,
}

/// The blind-indexed columns an exact look-up can search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexedColumn {
    Email,
    Phone,
    NationalId,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = data_keys)]
#[diesel(treat_none_as_default_value = false)] // as `COPY` needs
pub struct NewDataKeyRow {
    pub user_id: UserId,
    pub kek_version: i32,
    pub wrapped_key: Vec<u8>,
    pub created_at: NaiveDateTime,
}

/// A new user as a registration stores it: the row, its wrapped data key when keys
/// share this database, the email's index under every other live index version
/// (checked for duplicates during a blind-index rotation), and the client row its
/// token was checked against.
#[derive(Debug)]
pub struct Registration<'a> {
    pub row: &'a NewUserRow,
    pub key: Option<&'a NewDataKeyRow>,
    pub email_indexes_elsewhere: &'a [Vec<u8>],
    pub client: CheckedClient<'a>,
}

/// The `api_clients` row a registration's token was checked against, as it was then:
/// its token digest and its MAC (which binds the row's scopes, limits and revoked
/// state). The user is stored only if that row is still there, unchanged and not
/// revoked, in the same transaction: the check that decides.
#[derive(Debug, Clone, Copy)]
pub struct CheckedClient<'a> {
    pub token_hash: &'a [u8],
    pub mac: &'a [u8],
}

/// What became of one registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    Stored,
    /// Its email is taken, by a stored user or by an earlier one of the batch.
    EmailTaken,
    /// Its client row was revoked, edited or removed since its token was checked.
    ClientChanged,
}

/// Stores many new users in one transaction; for each, what became of it. A user and
/// its key are stored both or neither; a taken email or a changed client refuses that
/// user only. Refuses them all with [`DbError::BelowWrapFloor`] when a key is below
/// the master key floor (`wrap_floor`). On PostgreSQL this is one statement, its own
/// transaction (`RegisterStatement`: one round trip); on SQLite a write transaction of
/// single statements (it has no round trip to save).
pub fn insert_new(
    connection: &mut DbConnection,
    registrations: &[Registration<'_>],
) -> Result<Vec<Stored>, DbError> {
    match connection {
        DbConnection::Postgres(connection) => {
            let written = RegisterStatement::of(registrations).load::<Written>(connection)?;
            if let Some(floor) = written.iter().find_map(|written| written.floor) {
                return Err(DbError::BelowWrapFloor { floor });
            }
            let stored: HashSet<UserId> = written
                .iter()
                .filter(|written| !written.client_changed)
                .filter_map(|written| written.id)
                .collect();
            let changed: HashSet<UserId> = written
                .iter()
                .filter(|written| written.client_changed)
                .filter_map(|written| written.id)
                .collect();
            Ok(registrations
                .iter()
                .map(|registration| {
                    let id = &registration.row.id;
                    if changed.contains(id) {
                        Stored::ClientChanged
                    } else if stored.contains(id) {
                        Stored::Stored
                    } else {
                        Stored::EmailTaken
                    }
                })
                .collect())
        }
        DbConnection::Sqlite(_) => super::write_transaction(connection, |connection| {
            let keys = registrations
                .iter()
                .filter_map(|registration| registration.key);
            wrap_floor::check_wraps(connection, keys.map(|key| key.kek_version))?;
            registrations
                .iter()
                .map(|registration| insert_one(connection, registration))
                .collect()
        }),
    }
}

/// One registration inside `insert_new`'s write transaction, which holds SQLite's write
/// lock: no other writer can revoke the client or take the email between the checks
/// and the insert.
fn insert_one(
    connection: &mut DbConnection,
    registration: &Registration<'_>,
) -> Result<Stored, DbError> {
    let held: i64 = api_clients::table
        .filter(api_clients::token_hash.eq(registration.client.token_hash))
        .filter(api_clients::revoked_at.is_null())
        .filter(api_clients::mac.eq(registration.client.mac))
        .count()
        .get_result(connection)?;
    if held == 0 {
        return Ok(Stored::ClientChanged);
    }
    let indexes = std::iter::once(&registration.row.email_index)
        .chain(registration.email_indexes_elsewhere)
        .map(Vec::as_slice);
    let taken: i64 = users::table
        .filter(users::email_index.eq_any(indexes))
        .count()
        .get_result(connection)?;
    if taken > 0 {
        return Ok(Stored::EmailTaken);
    }
    diesel::insert_into(users::table)
        .values(registration.row)
        .execute(connection)?;
    if let Some(key) = registration.key {
        diesel::insert_into(data_keys::table)
            .values(key)
            .execute(connection)?;
    }
    Ok(Stored::Stored)
}

/// A row of what [`RegisterStatement`] returns: the id of a user it stored, the id of
/// one refused because its client changed, or the master key floor that refused them
/// all.
#[derive(QueryableByName)]
struct Written {
    #[diesel(sql_type = Nullable<Binary>)]
    id: Option<UserId>,
    #[diesel(sql_type = Bool)]
    client_changed: bool,
    #[diesel(sql_type = Nullable<Integer>)]
    floor: Option<i32>,
}

/// Registrations as columns (PostgreSQL unnests the arrays back into rows): nothing is
/// stored when a key is below the master key floor (read as every wrap reads it, by
/// `piivault_wrap_floor()`, which holds its lock until this statement's transaction
/// commits: `wrap_floor`); users whose client row is no longer the one checked, or
/// whose email is taken under another index version, are left out, the rest inserted
/// with `ON CONFLICT DO NOTHING` (a taken email skips its row, in this statement or
/// already stored), and keys inserted for the users stored. Returns their ids and
/// those of the users whose client changed, or the floor that refused them all.
struct RegisterStatement<'a> {
    /// The lowest master key version of the keys, `None` without keys.
    lowest_wrap: Option<i32>,
    ids: Vec<UserId>,
    created_at: Vec<NaiveDateTime>,
    updated_at: Vec<NaiveDateTime>,
    email_index: Vec<&'a [u8]>,
    phone_index: Vec<Option<&'a [u8]>>,
    national_id_index: Vec<Option<&'a [u8]>>,
    first_name: Vec<&'a [u8]>,
    last_name: Vec<&'a [u8]>,
    email: Vec<&'a [u8]>,
    phone: Vec<Option<&'a [u8]>>,
    national_id: Vec<Option<&'a [u8]>>,
    date_of_birth: Vec<Option<&'a [u8]>>,
    address: Vec<Option<&'a [u8]>>,
    index_version: Vec<i32>,
    client_token_hash: Vec<&'a [u8]>,
    client_mac: Vec<&'a [u8]>,
    /// `(user, index)` for each email index under another version.
    elsewhere_users: Vec<UserId>,
    elsewhere_indexes: Vec<&'a [u8]>,
    key_users: Vec<UserId>,
    key_versions: Vec<i32>,
    wrapped_keys: Vec<&'a [u8]>,
    key_created_at: Vec<NaiveDateTime>,
}

impl<'a> RegisterStatement<'a> {
    fn of(registrations: &'a [Registration<'a>]) -> Self {
        let rows = || registrations.iter().map(|registration| registration.row);
        let keys = || {
            registrations
                .iter()
                .filter_map(|registration| registration.key)
        };
        let elsewhere = || {
            registrations.iter().flat_map(|registration| {
                registration
                    .email_indexes_elsewhere
                    .iter()
                    .map(|index| (registration.row.id, index.as_slice()))
            })
        };
        Self {
            lowest_wrap: keys().map(|key| key.kek_version).min(),
            ids: rows().map(|row| row.id).collect(),
            created_at: rows().map(|row| row.created_at).collect(),
            updated_at: rows().map(|row| row.updated_at).collect(),
            email_index: rows().map(|row| row.email_index.as_slice()).collect(),
            phone_index: rows().map(|row| row.phone_index.as_deref()).collect(),
            national_id_index: rows().map(|row| row.national_id_index.as_deref()).collect(),
            first_name: rows().map(|row| row.first_name.as_slice()).collect(),
            last_name: rows().map(|row| row.last_name.as_slice()).collect(),
            email: rows().map(|row| row.email.as_slice()).collect(),
            phone: rows().map(|row| row.phone.as_deref()).collect(),
            national_id: rows().map(|row| row.national_id.as_deref()).collect(),
            date_of_birth: rows().map(|row| row.date_of_birth.as_deref()).collect(),
            address: rows().map(|row| row.address.as_deref()).collect(),
            index_version: rows().map(|row| row.index_version).collect(),
            client_token_hash: registrations
                .iter()
                .map(|registration| registration.client.token_hash)
                .collect(),
            client_mac: registrations
                .iter()
                .map(|registration| registration.client.mac)
                .collect(),
            elsewhere_users: elsewhere().map(|(id, _)| id).collect(),
            elsewhere_indexes: elsewhere().map(|(_, index)| index).collect(),
            key_users: keys().map(|key| key.user_id).collect(),
            key_versions: keys().map(|key| key.kek_version).collect(),
            wrapped_keys: keys().map(|key| key.wrapped_key.as_slice()).collect(),
            key_created_at: keys().map(|key| key.created_at).collect(),
        }
    }
}

impl QueryId for RegisterStatement<'_> {
    type QueryId = RegisterStatement<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl Query for RegisterStatement<'_> {
    type SqlType = Untyped;
}

impl RunQueryDsl<PgConnection> for RegisterStatement<'_> {}

impl QueryFragment<Pg> for RegisterStatement<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("WITH below_floor AS (SELECT floor FROM ");
        out.push_sql(wrap_floor::WRAP_FLOOR_FUNCTION);
        out.push_sql(" AS floor WHERE floor > ");
        out.push_bind_param::<Nullable<Integer>, _>(&self.lowest_wrap)?;
        out.push_sql("), candidate AS (SELECT * FROM unnest(");
        out.push_bind_param::<Array<Binary>, _>(&self.ids)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Timestamp>, _>(&self.created_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Timestamp>, _>(&self.updated_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Binary>, _>(&self.email_index)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Binary>>, _>(&self.phone_index)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Binary>>, _>(&self.national_id_index)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Binary>, _>(&self.first_name)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Binary>, _>(&self.last_name)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Binary>, _>(&self.email)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Binary>>, _>(&self.phone)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Binary>>, _>(&self.national_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Binary>>, _>(&self.date_of_birth)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Binary>>, _>(&self.address)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Integer>, _>(&self.index_version)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Binary>, _>(&self.client_token_hash)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Binary>, _>(&self.client_mac)?;
        out.push_sql(
            ") AS c(id, created_at, updated_at, email_index, phone_index, national_id_index, \
                    first_name, last_name, email, phone, national_id, date_of_birth, address, \
                    index_version, client_token_hash, client_mac) \
             ), client_changed AS ( \
               SELECT c.id FROM candidate c \
               WHERE NOT EXISTS (SELECT 1 FROM api_clients a \
                                 WHERE a.token_hash = c.client_token_hash \
                                   AND a.revoked_at IS NULL AND a.mac = c.client_mac) \
             ), taken_elsewhere AS ( \
               SELECT e.user_id FROM unnest(",
        );
        out.push_bind_param::<Array<Binary>, _>(&self.elsewhere_users)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Binary>, _>(&self.elsewhere_indexes)?;
        out.push_sql(
            ") AS e(user_id, email_index) \
               JOIN users u ON u.email_index = e.email_index \
             ), stored AS ( \
               INSERT INTO users (id, created_at, updated_at, email_index, phone_index, \
                                  national_id_index, first_name, last_name, email, phone, \
                                  national_id, date_of_birth, address, index_version) \
               SELECT c.id, c.created_at, c.updated_at, c.email_index, c.phone_index, \
                      c.national_id_index, c.first_name, c.last_name, c.email, c.phone, \
                      c.national_id, c.date_of_birth, c.address, c.index_version \
               FROM candidate c \
               WHERE c.id NOT IN (SELECT user_id FROM taken_elsewhere) \
                 AND c.id NOT IN (SELECT id FROM client_changed) \
                 AND NOT EXISTS (SELECT 1 FROM below_floor) \
               ON CONFLICT DO NOTHING \
               RETURNING id \
             ), keyed AS ( \
               INSERT INTO data_keys (user_id, kek_version, wrapped_key, created_at) \
               SELECT k.user_id, k.kek_version, k.wrapped_key, k.created_at FROM unnest(",
        );
        out.push_bind_param::<Array<Binary>, _>(&self.key_users)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Integer>, _>(&self.key_versions)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Binary>, _>(&self.wrapped_keys)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Timestamp>, _>(&self.key_created_at)?;
        out.push_sql(
            ") AS k(user_id, kek_version, wrapped_key, created_at) \
               JOIN stored ON stored.id = k.user_id \
             ) \
             SELECT id, false AS client_changed, NULL::integer AS floor FROM stored \
             UNION ALL SELECT id, true, NULL FROM client_changed \
             UNION ALL SELECT NULL, false, floor FROM below_floor",
        );
        Ok(())
    }
}

/// A user's row without its key (keys in a separate store), or `None`.
pub fn find(connection: &mut DbConnection, id: UserId) -> Result<Option<UserRow>, DbError> {
    users::table
        .filter(users::id.eq(id))
        .select(UserRow::as_select())
        .first(connection)
        .optional()
        .map_err(DbError::from)
}

/// A user's row with its wrapped data key, or `None`.
pub fn find_with_key(
    connection: &mut DbConnection,
    id: UserId,
) -> Result<Option<(UserRow, Vec<u8>)>, DbError> {
    users::table
        .inner_join(data_keys::table)
        .filter(users::id.eq(id))
        .select((UserRow::as_select(), data_keys::wrapped_key))
        .first(connection)
        .optional()
        .map_err(DbError::from)
}

/// Deletes a user's data key, file rows and user row in one transaction. Returns the
/// object names of the user's files (for the caller to remove from the object store),
/// or `None` when there was no such user. The key goes first: from then on nothing
/// sealed under it can be opened, objects included.
pub fn delete(connection: &mut DbConnection, id: UserId) -> Result<Option<Vec<String>>, DbError> {
    super::write_transaction(connection, |connection| {
        lock_against_new_children(connection, id)?;
        diesel::delete(data_keys::table.filter(data_keys::user_id.eq(id))).execute(connection)?;
        delete_rows_of(connection, id)
    })
}

/// Deletes a user's file rows and user row only (its key lives, or lived, in a
/// separate store); returns the object names as [`delete`] does.
pub fn delete_rows(
    connection: &mut DbConnection,
    id: UserId,
) -> Result<Option<Vec<String>>, DbError> {
    super::write_transaction(connection, |connection| {
        lock_against_new_children(connection, id)?;
        delete_rows_of(connection, id)
    })
}

/// Locks the user's row for the rest of the deleting transaction, so that a file row
/// (or other child row) inserted concurrently either committed before, and is deleted
/// and reported with the rest, or waits and then fails its foreign-key check. Without
/// it, on PostgreSQL a file row committed between the delete of the user's files and
/// the delete of the user vanished by `ON DELETE CASCADE`, its object never reported,
/// and so never removed. SQLite needs no lock: its writers take turns.
fn lock_against_new_children(connection: &mut DbConnection, id: UserId) -> Result<(), DbError> {
    if let DbConnection::Postgres(connection) = connection {
        users::table
            .filter(users::id.eq(id))
            .select(users::id)
            .for_update()
            .load::<UserId>(connection)?;
    }
    Ok(())
}

fn delete_rows_of(
    connection: &mut DbConnection,
    id: UserId,
) -> Result<Option<Vec<String>>, DbError> {
    let objects = super::files::delete_all_for_user(connection, id)?;
    let deleted = diesel::delete(users::table.filter(users::id.eq(id))).execute(connection)?;
    Ok((deleted > 0).then_some(objects))
}

/// Ids of the users whose `column` index is one of `values` (a value per live
/// index version), oldest first.
pub fn ids_by_index(
    connection: &mut DbConnection,
    column: IndexedColumn,
    values: &[Vec<u8>],
) -> Result<Vec<UserId>, DbError> {
    let query = users::table.select(users::id).order_by(users::id);
    match column {
        IndexedColumn::Email => query
            .filter(users::email_index.eq_any(values))
            .load(connection),
        IndexedColumn::Phone => query
            .filter(users::phone_index.eq_any(values))
            .load(connection),
        IndexedColumn::NationalId => query
            .filter(users::national_id_index.eq_any(values))
            .load(connection),
    }
    .map_err(DbError::from)
}

/// How many users are indexed under each blind-index version, ascending.
pub fn count_by_index_version(connection: &mut DbConnection) -> Result<Vec<(i32, i64)>, DbError> {
    users::table
        .group_by(users::index_version)
        .select((users::index_version, diesel::dsl::count_star()))
        .order_by(users::index_version)
        .load(connection)
        .map_err(DbError::from)
}

/// The next `limit` users after `after` (by id) not indexed under `version`.
pub fn batch_not_indexed_under(
    connection: &mut DbConnection,
    version: i32,
    after: Option<UserId>,
    limit: i64,
) -> Result<Vec<IndexSourceRow>, DbError> {
    let mut query = users::table
        .filter(users::index_version.ne(version))
        .select(IndexSourceRow::as_select())
        .order_by(users::id)
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(users::id.gt(after));
    }
    query.load(connection).map_err(DbError::from)
}

/// Writes recomputed indexes, each only where the row is still under its old
/// version. Returns how many rows were written.
pub fn write_reindexed(
    connection: &mut DbConnection,
    new_version: i32,
    batch: &[Reindexed],
) -> Result<usize, DbError> {
    connection.transaction(|connection| {
        let mut written = 0;
        for row in batch {
            written += diesel::update(
                users::table
                    .filter(users::id.eq(row.id))
                    .filter(users::index_version.eq(row.old_version)),
            )
            .set((
                users::index_version.eq(new_version),
                users::email_index.eq(&row.email_index),
                users::phone_index.eq(&row.phone_index),
                users::national_id_index.eq(&row.national_id_index),
            ))
            .execute(connection)?;
        }
        Ok::<_, DbError>(written)
    })
}

/// Inserts many sealed users (and, when keys share this database, their keys) inside
/// the caller's transaction: binary `COPY` on PostgreSQL (no statement to plan or
/// parameters to bind per row: the fastest way in), single inserts on SQLite (which
/// has no per-statement round trip to save). For seeding and imports; a duplicate
/// email fails the batch.
pub fn insert_many(
    connection: &mut DbConnection,
    new_users: &[NewUserRow],
    keys: Option<&[NewDataKeyRow]>,
) -> Result<usize, DbError> {
    let keys = keys.unwrap_or_default();
    match connection {
        DbConnection::Postgres(connection) => {
            let written = diesel::copy_from(users::table)
                .from_insertable(new_users)
                .execute(connection)?;
            if !keys.is_empty() {
                diesel::copy_from(data_keys::table)
                    .from_insertable(keys)
                    .execute(connection)?;
            }
            Ok(written)
        }
        DbConnection::Sqlite(connection) => {
            let mut written = 0;
            for user in new_users {
                written += diesel::insert_into(users::table)
                    .values(user)
                    .execute(connection)?;
            }
            for key in keys {
                diesel::insert_into(data_keys::table)
                    .values(key)
                    .execute(connection)?;
            }
            Ok(written)
        }
    }
}

/// Newest or oldest first: by id, which is a UUIDv7 and so orders by creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    NewestFirst,
    OldestFirst,
}

/// One keyset page: the `limit` users after the user `after` in `order`. Uses the
/// primary key index whatever the table size (no OFFSET).
pub fn page(
    connection: &mut DbConnection,
    order: Order,
    after: Option<UserId>,
    limit: i64,
) -> Result<Vec<UserRow>, DbError> {
    let mut query = users::table
        .select(UserRow::as_select())
        .limit(limit)
        .into_boxed();
    query = match order {
        Order::NewestFirst => query.order_by(users::id.desc()),
        Order::OldestFirst => query.order_by(users::id.asc()),
    };
    if let Some(after) = after {
        query = match order {
            Order::NewestFirst => query.filter(users::id.lt(after)),
            Order::OldestFirst => query.filter(users::id.gt(after)),
        };
    }
    query.load(connection).map_err(DbError::from)
}

/// The rows of these users (found by a look-up), in id order.
pub fn by_ids(connection: &mut DbConnection, ids: &[UserId]) -> Result<Vec<UserRow>, DbError> {
    users::table
        .filter(users::id.eq_any(ids))
        .select(UserRow::as_select())
        .order_by(users::id)
        .load(connection)
        .map_err(DbError::from)
}

/// How many users there are.
pub fn count(connection: &mut DbConnection) -> Result<i64, DbError> {
    users::table
        .count()
        .get_result(connection)
        .map_err(DbError::from)
}

/// Rows with a sealed column whose stored bytes sort before `current` (the first byte
/// of the format values are sealed in now: every older format sorts before it): what
/// the reseal job has left to do. A column that is NULL counts as current.
fn sealed_before(
    current: &[u8],
) -> Box<
    dyn BoxableExpression<
        users::table,
        super::connection::MultiBackend,
        SqlType = diesel::sql_types::Bool,
    >,
> {
    let older = || current.to_vec();
    Box::new(
        users::first_name
            .lt(older())
            .or(users::last_name.lt(older()))
            .or(users::email.lt(older()))
            .or(users::phone.assume_not_null().lt(older()))
            .or(users::national_id.assume_not_null().lt(older()))
            .or(users::date_of_birth.assume_not_null().lt(older()))
            .or(users::address.assume_not_null().lt(older())),
    )
}

/// Up to `limit` users after `after`, in id order, with a sealed column older than
/// `current` ([`sealed_before`]).
pub fn batch_sealed_before(
    connection: &mut DbConnection,
    current: &[u8],
    after: Option<UserId>,
    limit: i64,
) -> Result<Vec<UserRow>, DbError> {
    let mut query = users::table
        .filter(sealed_before(current))
        .select(UserRow::as_select())
        .order_by(users::id)
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(users::id.gt(after));
    }
    query.load(connection).map_err(DbError::from)
}

/// How many users have a sealed column older than `current` ([`sealed_before`]).
pub fn count_sealed_before(connection: &mut DbConnection, current: &[u8]) -> Result<i64, DbError> {
    users::table
        .filter(sealed_before(current))
        .count()
        .get_result(connection)
        .map_err(DbError::from)
}

/// Writes resealed columns, each row only where its email still holds the bytes the
/// job read (a row is never edited in place otherwise, so two jobs at once write each
/// row once). Returns how many rows were written.
pub fn write_resealed(
    connection: &mut DbConnection,
    batch: &[(Vec<u8>, UserRow)],
) -> Result<usize, DbError> {
    connection.transaction(|connection| {
        let mut written = 0;
        for (old_email, row) in batch {
            written += diesel::update(
                users::table
                    .filter(users::id.eq(row.id))
                    .filter(users::email.eq(old_email)),
            )
            .set((
                users::first_name.eq(&row.first_name),
                users::last_name.eq(&row.last_name),
                users::email.eq(&row.email),
                users::phone.eq(&row.phone),
                users::national_id.eq(&row.national_id),
                users::date_of_birth.eq(&row.date_of_birth),
                users::address.eq(&row.address),
            ))
            .execute(connection)?;
        }
        Ok::<_, DbError>(written)
    })
}

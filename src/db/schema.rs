//! The one schema for both backends, portable column types only (docs/design.md).
//! Ids are 16-byte UUIDs stored as `Binary`.

diesel::table! {
    users (id) {
        id -> Binary,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        email_index -> Binary,
        phone_index -> Nullable<Binary>,
        national_id_index -> Nullable<Binary>,
        first_name -> Binary,
        last_name -> Binary,
        email -> Binary,
        phone -> Nullable<Binary>,
        national_id -> Nullable<Binary>,
        date_of_birth -> Nullable<Binary>,
        address -> Nullable<Binary>,
        index_version -> Integer,
    }
}

diesel::table! {
    data_keys (user_id) {
        user_id -> Binary,
        kek_version -> Integer,
        wrapped_key -> Binary,
        created_at -> Timestamp,
    }
}

diesel::table! {
    api_clients (id) {
        id -> Binary,
        name -> Text,
        token_hash -> Binary,
        scopes -> Text,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        rate_per_second -> Integer,
        burst -> Integer,
        max_concurrent -> Integer,
        mac -> Nullable<Binary>,
    }
}

diesel::table! {
    files (id) {
        id -> Binary,
        user_id -> Binary,
        object_name -> Text,
        size -> BigInt,
        name -> Binary,
        content_type -> Binary,
        created_at -> Timestamp,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Binary,
        at -> Timestamp,
        request_id -> Text,
        client_id -> Binary,
        client_name -> Text,
        action -> Text,
        subject_user_id -> Nullable<Binary>,
        users_read -> BigInt,
    }
}

diesel::joinable!(data_keys -> users (user_id));
diesel::joinable!(files -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(users, data_keys, api_clients, files, audit_log);

diesel::table! {
    transactions (id) {
        id -> Binary,
        user_id -> Binary,
        reference_index -> Binary,
        occurred_at -> Timestamp,
        currency -> Text,
        reference -> Binary,
        details -> Binary,
        amount -> Binary,
        created_at -> Timestamp,
    }
}

diesel::table! {
    statement_links (id) {
        id -> Binary,
        user_id -> Binary,
        token_hash -> Binary,
        period_from -> Text,
        period_to -> Text,
        currency -> Text,
        policy -> Text,
        secret -> Nullable<Binary>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        downloads_left -> Nullable<Integer>,
        max_downloads -> Nullable<Integer>,
        mac -> Nullable<Binary>,
    }
}

diesel::joinable!(transactions -> users (user_id));
diesel::joinable!(statement_links -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(users, transactions, statement_links);

// The master key floor and the versions' creation times (src/db/wrap_floor.rs): in the
// database that holds `data_keys` (the main one, or the separate key store).
diesel::table! {
    master_key_floor (id) {
        id -> Integer,
        min_wrap_version -> Integer,
        raised_at -> Timestamp,
    }
}

diesel::table! {
    master_key_versions (version) {
        version -> Integer,
        created_at -> Timestamp,
    }
}

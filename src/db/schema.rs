//! The one schema for both backends, portable column types only (see DESIGN.md).
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
diesel::allow_tables_to_appear_in_same_query!(users, data_keys, api_clients, audit_log);

//! The new-user payload (docs/http.md): the one door from decrypted JSON to a [`NewUser`].
//! Every problem is collected per field, so a client sees all of them at once.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::unknown::check_names;
use super::Invalid;
use super::{Address, DateOfBirth, Email, NationalId, PersonName, Phone};

/// Field name → what is wrong with it.
pub type FieldErrors = BTreeMap<String, String>;

/// A validated new user, ready to be sealed.
pub struct NewUser {
    pub first_name: PersonName,
    pub last_name: PersonName,
    pub email: Email,
    pub phone: Option<Phone>,
    pub national_id: Option<NationalId>,
    pub date_of_birth: Option<DateOfBirth>,
    pub address: Option<Address>,
}

const REQUIRED: [&str; 3] = ["first_name", "last_name", "email"];
const OPTIONAL: [&str; 4] = ["phone", "national_id", "date_of_birth", "address"];

impl NewUser {
    /// Parses a JSON object. Unknown fields, missing required fields, non-string values
    /// and invalid values all land in the returned [`FieldErrors`].
    pub fn parse(object: &Map<String, Value>) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let accepted: Vec<&str> = REQUIRED.iter().chain(&OPTIONAL).copied().collect();
        check_names(
            &mut errors,
            "",
            "field",
            &accepted,
            object.keys().map(String::as_str),
        );
        let first_name = take(object, &mut errors, "first_name", true, PersonName::parse);
        let last_name = take(object, &mut errors, "last_name", true, PersonName::parse);
        let email = take(object, &mut errors, "email", true, Email::parse);
        let phone = take(object, &mut errors, "phone", false, Phone::parse);
        let national_id = take(object, &mut errors, "national_id", false, NationalId::parse);
        let date_of_birth = take(
            object,
            &mut errors,
            "date_of_birth",
            false,
            DateOfBirth::parse,
        );
        let address = take(object, &mut errors, "address", false, Address::parse);

        match (first_name, last_name, email) {
            (Some(first_name), Some(last_name), Some(email)) if errors.is_empty() => Ok(Self {
                first_name,
                last_name,
                email,
                phone,
                national_id,
                date_of_birth,
                address,
            }),
            _ => Err(errors),
        }
    }
}

/// Reads one string field and parses it, recording what is wrong in `errors`.
pub(super) fn take<T>(
    object: &Map<String, Value>,
    errors: &mut FieldErrors,
    name: &str,
    required: bool,
    parse: fn(&str) -> Result<T, Invalid>,
) -> Option<T> {
    let problem = match object.get(name) {
        Some(Value::String(text)) => match parse(text) {
            Ok(value) => return Some(value),
            Err(message) => message,
        },
        None | Some(Value::Null) if !required => return None,
        None | Some(Value::Null) => "is required",
        Some(_) => "must be a string",
    };
    errors.insert(name.to_owned(), problem.to_owned());
    None
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(value: &Value) -> Result<NewUser, FieldErrors> {
        NewUser::parse(value.as_object().unwrap())
    }

    #[test]
    fn a_full_payload_parses() {
        let user = parse(
            &json!({"first_name":"Jack","last_name":"Sparrow","email":"jack.sparrow@piratebay.com",
            "phone":"+254712345678","national_id":"12345678","date_of_birth":"1990-04-01",
            "address":"Kenyatta Ave 1, Nairobi"}),
        )
        .unwrap();
        assert_eq!(user.email.as_str(), "jack.sparrow@piratebay.com");
        assert_eq!(user.national_id.unwrap().as_str(), "12345678");
    }

    #[test]
    fn only_the_required_fields_are_required() {
        let user =
            parse(&json!({"first_name":"Jack","last_name":"Sparrow","email":"j@p.com"})).unwrap();
        assert!(user.phone.is_none() && user.national_id.is_none() && user.address.is_none());
    }

    #[test]
    fn every_problem_is_reported_per_field() {
        let errors =
            parse(&json!({"last_name": 5, "email":"nope", "phone":"0712", "colour":"red"}))
                .err()
                .unwrap();
        assert_eq!(errors["first_name"], "is required");
        assert_eq!(errors["last_name"], "must be a string");
        assert!(errors["email"].starts_with("must be an email"));
        assert!(errors["phone"].contains("E.164"));
        assert!(errors["(unknown)"].contains("first_name, last_name, email"));
        assert_eq!(errors.len(), 5);
    }
}

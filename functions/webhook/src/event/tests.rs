//! The event edge with a stub handler: each hostile event shape gets its `400`, a good one reaches
//! the handler as lambda_http builds it, and [`admit`] agrees with lambda_http's conversion on
//! which events it can convert without a panic.

use std::sync::{Arc, Mutex};

use lambda_http::http::Method;
use lambda_http::{Context, service_fn};
use proptest::prelude::*;

use super::*;

const PATH: &str = "/api/v2/integrations/gitlab/webhook";

/// An API Gateway HTTP API event as the deployed API sends it, with `body` as given.
fn event(body: &str, base64: bool) -> Value {
    json!({
        "version": "2.0",
        "routeKey": format!("POST {PATH}"),
        "rawPath": PATH,
        "rawQueryString": "",
        "headers": {
            "content-type": "application/json",
            "host": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
            "x-forwarded-proto": "https",
            "x-gitlab-event": "Issue Hook",
            "x-gitlab-token": "example-webhook-secret"
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "a1b2c3d4e5",
            "domainName": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
            "http": { "method": "POST", "path": PATH, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.10" },
            "requestId": "Vw3kYh2FoAMEb1A=",
            "routeKey": format!("POST {PATH}"),
            "stage": "$default",
            "timeEpoch": 1795638600123_i64
        },
        "body": body,
        "isBase64Encoded": base64
    })
}

/// A handler that records the requests it gets and answers `200 {"status":"queued"}`.
#[derive(Clone, Default)]
struct Recorder {
    seen: Arc<Mutex<Vec<Request>>>,
}

impl Recorder {
    fn service(
        &self,
    ) -> impl Service<Request, Response = Response<Body>, Error = Infallible, Future: Send> + Send + use<> {
        let seen = self.seen.clone();
        service_fn(move |request: Request| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(request);
                let mut response = Response::new(Body::Text(r#"{"status":"queued"}"#.into()));
                response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                Ok::<_, Infallible>(response)
            }
        })
    }

    fn calls(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

async fn run(recorder: &Recorder, event: Value) -> Value {
    answer(recorder.service(), LambdaEvent::new(event, Context::default())).await.unwrap()
}

/// Asserts a `400 {"status":"rejected"}` with `reason`, and that the handler was not called.
fn assert_rejected(answer: &Value, recorder: &Recorder, reason: &str) {
    assert_eq!(answer["statusCode"], 400, "{answer}");
    assert_eq!(answer["headers"]["content-type"], "application/json", "{answer}");
    assert_eq!(answer["isBase64Encoded"], false, "{answer}");
    let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    assert_eq!(body, json!({ "status": "rejected", "reason": reason }));
    assert_eq!(recorder.calls(), 0, "the handler is not called");
}

#[tokio::test]
async fn an_event_whose_body_is_marked_base64_but_does_not_decode_is_rejected_with_400() {
    let recorder = Recorder::default();
    let answer = run(&recorder, event("{not base64!}", true)).await;
    assert_rejected(&answer, &recorder, "the body is marked base64 but is not valid base64");
}

#[tokio::test]
async fn an_event_without_a_request_context_is_rejected_with_400() {
    let recorder = Recorder::default();
    let mut hostile = event("{}", false);
    hostile.as_object_mut().unwrap().remove("requestContext");
    let answer = run(&recorder, hostile).await;
    assert_rejected(&answer, &recorder, "the event is not an API Gateway HTTP API request (payload format 2.0)");
}

#[tokio::test]
async fn an_event_whose_body_is_not_a_string_is_rejected_with_400() {
    let recorder = Recorder::default();
    let mut hostile = event("", false);
    hostile["body"] = json!({ "object_kind": "issue" });
    let answer = run(&recorder, hostile).await;
    assert_rejected(&answer, &recorder, "the event is not an API Gateway HTTP API request (payload format 2.0)");
}

#[tokio::test]
async fn an_event_that_is_not_an_object_is_rejected_with_400() {
    let recorder = Recorder::default();
    let answer = run(&recorder, json!("a string, not an event")).await;
    assert_rejected(&answer, &recorder, "the event is not an API Gateway HTTP API request (payload format 2.0)");
}

#[tokio::test]
async fn an_event_with_more_headers_than_a_header_map_holds_is_rejected_with_400() {
    let recorder = Recorder::default();
    let mut hostile = event("{}", false);
    let headers = hostile["headers"].as_object_mut().unwrap();
    for n in 0..40_000 {
        headers.insert(format!("x-h-{n}"), json!("v"));
    }
    let count = headers.len();
    let answer = run(&recorder, hostile).await;
    assert_rejected(&answer, &recorder, &format!("the request has {count} headers, over the limit of {MAX_HEADERS}"));
}

#[tokio::test]
async fn an_event_whose_host_is_not_a_host_is_rejected_with_400() {
    let recorder = Recorder::default();
    let mut hostile = event("{}", false);
    hostile["headers"]["host"] = json!("not a host");
    let answer = run(&recorder, hostile).await;
    assert_rejected(&answer, &recorder, "the request's host, scheme, path or query do not make a valid URL");
}

#[tokio::test]
async fn an_event_whose_query_is_not_a_uri_query_is_rejected_with_400() {
    let recorder = Recorder::default();
    let mut hostile = event("{}", false);
    hostile["rawQueryString"] = json!("a=b c");
    let answer = run(&recorder, hostile).await;
    assert_rejected(&answer, &recorder, "the request's host, scheme, path or query do not make a valid URL");
}

#[tokio::test]
async fn a_delivery_reaches_the_handler_as_lambda_http_builds_it_and_its_response_is_the_answer() {
    let recorder = Recorder::default();
    let answer = run(&recorder, event(r#"{"object_kind":"issue"}"#, false)).await;

    assert_eq!(answer["statusCode"], 200, "{answer}");
    assert_eq!(answer["headers"]["content-type"], "application/json");
    assert_eq!(answer["body"], r#"{"status":"queued"}"#);
    assert_eq!(answer["isBase64Encoded"], false);
    let seen = recorder.seen.lock().unwrap();
    let [request] = &seen[..] else { panic!("one call, got {}", seen.len()) };
    assert_eq!(request.method(), Method::POST);
    assert_eq!(request.uri().path(), PATH);
    assert_eq!(request.headers()["x-gitlab-event"], "Issue Hook");
    assert_eq!(request.body().as_ref(), br#"{"object_kind":"issue"}"#);
}

#[tokio::test]
async fn a_base64_body_reaches_the_handler_decoded_even_when_it_is_not_utf8() {
    let recorder = Recorder::default();
    // 0xff 0xfe 0x00 0x80: valid base64 of bytes that are not UTF-8.
    let answer = run(&recorder, event("//4AgA==", true)).await;

    assert_eq!(answer["statusCode"], 200, "{answer}");
    let seen = recorder.seen.lock().unwrap();
    assert_eq!(seen[0].body().as_ref(), [0xff, 0xfe, 0x00, 0x80]);
}

/// Hostile values for the fields lambda_http builds the URI and the body from.
fn field(alphabet: &'static str) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(alphabet.chars().collect::<Vec<_>>()), 0..10)
        .prop_map(|chars| chars.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Whatever [`admit`] accepts converts without a panic, and whatever it refuses for its base64
    /// or its URL would have panicked: the check is exactly the conversion's preconditions.
    #[test]
    fn admit_accepts_exactly_the_events_lambda_http_converts_without_a_panic(
        host in prop::option::of(field("ab1.-:[]@%#?/ 9éx")),
        proto in prop::option::of(field("htps1+: ")),
        domain in prop::option::of(field("ab1.-:[]@% é9")),
        stage in prop::option::of(field("$default/ a?")),
        path in field("/a:@%?# .9"),
        query in field("a=&% \"{}|^`<>#é"),
        body in field("AZaz09+/= -_!"),
        base64 in any::<bool>(),
    ) {
        let mut raw = event(&body, base64);
        raw["rawPath"] = json!(path);
        raw["rawQueryString"] = json!(query);
        raw["requestContext"]["stage"] = json!(stage);
        raw["requestContext"]["domainName"] = json!(domain);
        match host {
            Some(host) => raw["headers"]["host"] = json!(host),
            None => { raw["headers"].as_object_mut().unwrap().remove("host"); }
        }
        match proto {
            Some(proto) => raw["headers"]["x-forwarded-proto"] = json!(proto),
            None => { raw["headers"].as_object_mut().unwrap().remove("x-forwarded-proto"); }
        }
        // What lambda_http would do with the event: its own deserialisation, then its conversion.
        let Ok(parsed) = serde_json::from_value::<ApiGatewayV2httpRequest>(raw.clone()) else {
            prop_assert!(matches!(admit(raw), Err(BadEvent::NotHttpApi(_))));
            return Ok(());
        };
        let converted = std::panic::catch_unwind(|| lambda_http::Request::from(LambdaRequest::ApiGatewayV2(parsed)));
        match admit(raw) {
            Ok(_) => prop_assert!(converted.is_ok(), "admitted, yet the conversion panicked"),
            Err(BadEvent::InvalidBase64 | BadEvent::InvalidUrl) => {
                prop_assert!(converted.is_err(), "refused, yet the conversion succeeded")
            }
            Err(other) => prop_assert!(false, "unexpected bad_event {other:?}"),
        }
    }
}

//! The shape sections: defaults equal to the built-in behaviour, each override, each mistake named
//! by its key.

use super::*;

fn shape(text: &str) -> Result<QalitaShape, ShapeError> {
    shape_with(text, &QalitaPaths::default())
}

fn shape_with(text: &str, paths: &QalitaPaths) -> Result<QalitaShape, ShapeError> {
    let mut table: toml::Table = toml::from_str(text).expect("a TOML test document");
    let sections = ShapeSections {
        auth: table.remove("auth"),
        fields: table.remove("fields"),
        write: table.remove("write"),
        paging: table.remove("paging"),
        not_found: table.remove("not_found"),
    };
    QalitaShape::from_sections(sections, paths)
}

#[test]
fn no_section_is_the_built_in_shape() {
    let shape = shape("").unwrap();
    assert_eq!(shape, QalitaShape::default());
    assert_eq!((shape.auth.header(), shape.auth.scheme()), ("Authorization", Some("Bearer")));
    assert_eq!(shape.fields.assignee, FieldPointer::members(&["assignee"]));
    assert_eq!(shape.fields.comment.content, FieldPointer::members(&["content", "body", "text"]));
    assert_eq!((shape.write.status.as_str(), shape.write.comment_text.as_str()), ("status", "content"));
    assert_eq!(shape.paging.parameters(), [("offset_param", "offset"), ("limit_param", "limit")]);
    assert_eq!((shape.paging.items.as_ref(), shape.paging.total.as_ref()), (None, None));
    assert!(shape.not_found.means_not_found(204) && shape.not_found.means_not_found(404));
}

#[test]
fn an_api_key_header_without_a_scheme_sends_the_bare_token() {
    let shape = shape("[auth]\nheader = \"X-API-Key\"").unwrap();
    assert_eq!((shape.auth.header(), shape.auth.scheme()), ("X-API-Key", None));
    let shape = self::shape("[auth]\nscheme = \"\"").unwrap();
    assert_eq!((shape.auth.header(), shape.auth.scheme()), ("Authorization", None));
    let shape = self::shape("[auth]\nheader = \"X-Token\"\nscheme = \"Token\"").unwrap();
    assert_eq!(shape.auth.scheme(), Some("Token"));
}

#[test]
fn fields_read_by_pointer_and_by_several() {
    let shape = shape(
        "[fields]\nassignee = \"/assignee/id\"\ntitle = [\"/name\", \"/title\"]\n[fields.comment]\ncontent = \"/message\"\n[fields.user]\nlogin = \"/username\"",
    )
    .unwrap();
    assert_eq!(shape.fields.assignee.pointers()[0].as_str(), "/assignee/id");
    assert_eq!(shape.fields.title.pointers().len(), 2);
    assert_eq!(shape.fields.status, QalitaFields::default().status, "what is not named keeps its default");
    assert_eq!(shape.fields.comment.content, FieldPointer::members(&["message"]));
    assert_eq!(shape.fields.user.login, Some(FieldPointer::members(&["username"])));
}

#[test]
fn user_fields_left_unset_are_read_under_the_paths_user_field_names() {
    let names = crate::config::qalita_paths::UserFields { login: "username".into(), ..Default::default() };
    let resolved = UserFieldPointers::default().resolve(&names);
    assert_eq!(resolved.login, FieldPointer::members(&["username"]));
    assert_eq!(resolved.email, FieldPointer::members(&["email"]));
    let set = UserFieldPointers { login: Some(FieldPointer::members(&["handle"])), ..Default::default() };
    assert_eq!(set.resolve(&names).login, FieldPointer::members(&["handle"]), "[qalita.fields.user] wins");
}

#[test]
fn page_paging_with_a_wrapper_and_a_total() {
    let shape = shape(
        "[paging]\nstyle = \"page\"\nfirst_page = 0\nsize_param = \"per_page\"\nitems = \"/results/items\"\ntotal = \"/results/count\"\nuser_page_size = 50",
    )
    .unwrap();
    assert_eq!(shape.paging.style, PagingStyle::Page);
    assert_eq!(shape.paging.parameters(), [("page_param", "page"), ("size_param", "per_page")]);
    assert_eq!(shape.paging.items.as_ref().map(JsonPointer::as_str), Some("/results/items"));
    assert_eq!((shape.paging.first_page, shape.paging.user_page_size), (0, 50));
}

#[test]
fn each_mistake_names_its_key() {
    let cases = [
        ("[fields]\nassignee = \"assignee\"", "qalita.fields.assignee: \"assignee\" is not a JSON pointer"),
        ("[fields.comment]\ncontent = []", "qalita.fields.comment.content: needs at least one JSON pointer"),
        ("[fields.user]\nlogin = \"/a~9\"", "qalita.fields.user.login: \"/a~9\" is not a JSON pointer"),
        ("[fields]\nasignee = \"/a\"", "qalita.fields.asignee: unknown field `asignee`"),
        ("[auth]\nheader = \"X API Key\"", "qalita.auth.header: \"X API Key\" is not an HTTP header name"),
        ("[auth]\nscheme = \"Bearer token\"", "qalita.auth.scheme: \"Bearer token\" must be one word"),
        ("[write]\nassignee = \"\"", "qalita.write.assignee: must not be empty"),
        ("[write]\ntitle = \"status\"", "qalita.write.title: \"status\" is also write.status"),
        ("[paging]\nstyle = \"cursor\"", "qalita.paging.style: unknown variant `cursor`"),
        ("[paging]\nitems = \"data\"", "qalita.paging.items: \"data\" is not a JSON pointer"),
        ("[paging]\ntotal = \"total\"", "qalita.paging.total: \"total\" is not a JSON pointer"),
        (
            "[paging]\nstyle = \"page\"\npage_param = \"size\"",
            "qalita.paging.size_param: \"size\" is also paging.page_param",
        ),
        ("[paging]\nlimit_param = \" \"", "qalita.paging.limit_param: must not be empty"),
        ("[paging]\nstyle = \"page\"\nfirst_page = 2", "qalita.paging.first_page: must be 0 or 1, got 2"),
        ("[paging]\nuser_page_size = 0", "qalita.paging.user_page_size: must be between 1 and 1000, got 0"),
        ("[not_found]\nstatuses = []", "qalita.not_found.statuses: must name 204, 404 or both"),
        ("[not_found]\nstatuses = [204, 410]", "qalita.not_found.statuses: can hold only 204 and 404, got 410"),
    ];
    for (text, expected) in cases {
        let error = shape(text).unwrap_err().to_string();
        assert!(error.starts_with(expected), "{text}: {error}");
    }
}

#[test]
fn an_extra_list_parameter_cannot_override_the_configured_paging() {
    let paths = QalitaPaths { list_extra_query: vec![("Page".into(), "3".into())], ..Default::default() };
    let error = shape_with("[paging]\nstyle = \"page\"", &paths).unwrap_err().to_string();
    assert_eq!(error, "qalita.paths.list_extra_query: \"Page\" would override the paging parameter the client sets");
    assert!(shape_with("", &paths).is_ok(), "`page` is free in the offset style");
}

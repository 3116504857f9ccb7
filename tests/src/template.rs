//! Reads `template.yaml`, so that the local stack is created from the same definitions as the
//! deployed one. CloudFormation's short-form tags (`!Ref`, `!Sub`, `!GetAtt`, …) become their
//! long form (`{"Ref": …}`, `{"Fn::Sub": …}`), and [`Template::resolve`] evaluates the ones the
//! resource definitions use. [`Template::expanded`] is the template after the SAM transform (what
//! CloudFormation deploys, SAM's roles and permissions included), for the IAM checks.

use serde_json::{Map, Value, json};
use serde_yaml_ng::Value as Yaml;

/// The parsed template, as JSON.
#[derive(Debug, Clone)]
pub struct Template {
    root: Value,
}

/// What `!Ref` and `!GetAtt` of a resource evaluate to on the local stack.
pub trait Resolver {
    /// `!Ref <logical id>` of a resource (a queue URL, a table name, a secret ARN).
    fn reference(&self, logical_id: &str) -> Option<String>;
    /// `!GetAtt <logical id>.<attribute>`.
    fn attribute(&self, logical_id: &str, attribute: &str) -> Option<String>;
}

impl Template {
    /// Reads the repository's `template.yaml`.
    ///
    /// # Panics
    /// When the file is missing or not YAML: every test that needs it would fail anyway.
    pub fn load() -> Self {
        let path = crate::repo_root().join("template.yaml");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        Self::parse(&text).unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()))
    }

    /// The template after the SAM transform, run offline by `scripts/sam_expand.py` under the SAM
    /// CLI's Python: named by `SAM_PYTHON` (scripts/test.sh sets it), else `.tools/sam/bin/python`
    /// when present. `None`, after saying why, when neither is there; under CI (`CI` set) a missing
    /// `SAM_PYTHON` fails instead, so that the checks cannot be skipped there unnoticed.
    ///
    /// # Panics
    /// When `SAM_PYTHON` is unset under CI, or the transform fails (the template is then not
    /// deployable either).
    pub fn expanded() -> Option<Self> {
        let root = crate::repo_root();
        let python = match std::env::var_os("SAM_PYTHON") {
            Some(python) => std::path::PathBuf::from(python),
            None if std::env::var_os("CI").is_some() => {
                panic!("SAM_PYTHON is not set: scripts/test.sh sets it to the SAM CLI's Python (.tools/sam/bin/python)")
            }
            None => {
                let local = root.join(".tools/sam/bin/python");
                if !local.exists() {
                    eprintln!(
                        "SKIPPED: no SAM translator (set SAM_PYTHON, or run scripts/test.sh once to install .tools/sam)"
                    );
                    return None;
                }
                local
            }
        };
        let output = std::process::Command::new(&python)
            .arg(root.join("scripts/sam_expand.py"))
            .arg(root.join("template.yaml"))
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
        assert!(
            output.status.success(),
            "the SAM transform of template.yaml failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let root = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("scripts/sam_expand.py printed no JSON template: {e}"));
        Some(Template { root })
    }

    /// The logical ids of the resources of `resource_type`, in name order.
    pub fn resources_of_type(&self, resource_type: &str) -> Vec<&str> {
        let resources = self.root["Resources"].as_object().into_iter().flatten();
        resources.filter(|(_, r)| r["Type"] == resource_type).map(|(id, _)| id.as_str()).collect()
    }

    /// Parses a template's text.
    pub fn parse(text: &str) -> Result<Self, serde_yaml_ng::Error> {
        let yaml: Yaml = serde_yaml_ng::from_str(text)?;
        Ok(Template { root: to_json(&yaml) })
    }

    /// The whole template.
    pub fn root(&self) -> &Value {
        &self.root
    }

    /// The `Type` of a resource.
    pub fn resource_type(&self, logical_id: &str) -> Option<&str> {
        self.root["Resources"][logical_id]["Type"].as_str()
    }

    /// The `Properties` of a resource (`Null` when absent).
    pub fn properties(&self, logical_id: &str) -> &Value {
        &self.root["Resources"][logical_id]["Properties"]
    }

    /// The default value of a parameter.
    pub fn parameter_default(&self, name: &str) -> Option<&Value> {
        self.root["Parameters"][name].get("Default")
    }

    /// Evaluates `Ref`, `Fn::Sub` and `Fn::GetAtt` in `value`, with `stack_name` as
    /// `AWS::StackName`, parameters at their defaults and resources through `resolver`.
    ///
    /// # Panics
    /// On an intrinsic function it cannot evaluate: the test must then be taught it.
    pub fn resolve(&self, value: &Value, stack_name: &str, resolver: &dyn Resolver) -> Value {
        match value {
            Value::Object(map) if map.len() == 1 && map.contains_key("Ref") => {
                let name = map["Ref"].as_str().unwrap_or_default();
                if let Some(default) = self.parameter_default(name) {
                    return default.clone();
                }
                let resolved = self.pseudo(name, stack_name).or_else(|| resolver.reference(name));
                Value::String(resolved.unwrap_or_else(|| panic!("cannot resolve !Ref {name}")))
            }
            Value::Object(map) if map.len() == 1 && map.contains_key("Fn::GetAtt") => {
                let parts: Vec<&str> =
                    map["Fn::GetAtt"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
                let [id, attribute] = parts[..] else { panic!("malformed !GetAtt {value}") };
                Value::String(
                    resolver
                        .attribute(id, attribute)
                        .unwrap_or_else(|| panic!("cannot resolve !GetAtt {id}.{attribute}")),
                )
            }
            Value::Object(map) if map.len() == 1 && map.contains_key("Fn::Sub") => {
                let mut text = map["Fn::Sub"]
                    .as_str()
                    .unwrap_or_else(|| panic!("only the string form of !Sub is supported: {value}"))
                    .to_owned();
                while let Some(start) = text.find("${") {
                    let end =
                        text[start..].find('}').map(|e| start + e).unwrap_or_else(|| panic!("unclosed ${{ in {text}"));
                    let name = &text[start + 2..end];
                    let replacement = match name.split_once('.') {
                        Some((id, attribute)) => resolver.attribute(id, attribute),
                        None => self
                            .parameter_default(name)
                            .map(|d| d.as_str().map(str::to_owned).unwrap_or_else(|| d.to_string()))
                            .or_else(|| self.pseudo(name, stack_name))
                            .or_else(|| resolver.reference(name)),
                    };
                    let replacement = replacement.unwrap_or_else(|| panic!("cannot resolve ${{{name}}}"));
                    text.replace_range(start..=end, &replacement);
                }
                Value::String(text)
            }
            Value::Object(map) => {
                Value::Object(map.iter().map(|(k, v)| (k.clone(), self.resolve(v, stack_name, resolver))).collect())
            }
            Value::Array(items) => Value::Array(items.iter().map(|v| self.resolve(v, stack_name, resolver)).collect()),
            other => other.clone(),
        }
    }

    fn pseudo(&self, name: &str, stack_name: &str) -> Option<String> {
        match name {
            "AWS::StackName" => Some(stack_name.to_owned()),
            "AWS::Region" => Some("us-east-1".into()),
            "AWS::AccountId" => Some("123456789012".into()),
            "AWS::Partition" => Some("aws".into()),
            "AWS::URLSuffix" => Some("amazonaws.com".into()),
            _ => None,
        }
    }
}

fn to_json(yaml: &Yaml) -> Value {
    match yaml {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(*b),
        Yaml::Number(n) => {
            if let Some(i) = n.as_i64() {
                json!(i)
            } else if let Some(u) = n.as_u64() {
                json!(u)
            } else {
                json!(n.as_f64())
            }
        }
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Sequence(items) => Value::Array(items.iter().map(to_json).collect()),
        Yaml::Mapping(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let key = match k {
                    Yaml::String(s) => s.clone(),
                    other => serde_yaml_ng::to_string(other).unwrap_or_default().trim().to_owned(),
                };
                out.insert(key, to_json(v));
            }
            Value::Object(out)
        }
        Yaml::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let inner = to_json(&tagged.value);
            match name {
                "Ref" | "Condition" => json!({ name: inner }),
                // `!GetAtt A.B` is the short form of `Fn::GetAtt: [A, B]`.
                "GetAtt" => match inner {
                    Value::String(s) => {
                        let (id, attribute) = s.split_once('.').unwrap_or((&s, ""));
                        json!({ "Fn::GetAtt": [id, attribute] })
                    }
                    other => json!({ "Fn::GetAtt": other }),
                },
                _ => json!({ format!("Fn::{name}"): inner }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;
    impl Resolver for Fixed {
        fn reference(&self, id: &str) -> Option<String> {
            Some(format!("ref-of-{id}"))
        }
        fn attribute(&self, id: &str, attribute: &str) -> Option<String> {
            Some(format!("{attribute}-of-{id}"))
        }
    }

    #[test]
    fn short_form_tags_are_read_and_resolved() {
        let template = Template::parse(
            "Parameters:\n  Count:\n    Type: Number\n    Default: 5\nResources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: !Sub \"${AWS::StackName}-events.fifo\"\n      Redrive:\n        deadLetterTargetArn: !GetAtt D.Arn\n        maxReceiveCount: !Ref Count\n      Other: !Ref D\n",
        )
        .unwrap();
        let resolved = template.resolve(template.properties("Q"), "stack1", &Fixed);
        assert_eq!(
            resolved,
            json!({"QueueName": "stack1-events.fifo", "Redrive": {"deadLetterTargetArn": "Arn-of-D", "maxReceiveCount": 5}, "Other": "ref-of-D"})
        );
    }
}

//! `infer` requests (`scores`, `explain`, `similar`): parsing, checking and answering.

use agora_plugin_api::model::encode_f32s;
use serde::{Deserialize, Serialize};

use crate::Recommender;

/// One `infer` request.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
pub(crate) enum Request {
    Scores { history: Vec<u32> },
    Explain { history: Vec<u32>, items: Vec<u32> },
    Similar { item: u32, k: usize },
}

#[derive(Serialize)]
struct Explanation {
    item: u32,
    because: Option<u32>,
}

#[derive(Serialize)]
struct Neighbour {
    item: u32,
    score: f32,
}

impl Request {
    /// Parses a request and checks every item id against `n_items`.
    pub(crate) fn parse(bytes: &[u8], n_items: usize) -> Result<Request, String> {
        let request: Request = serde_json::from_slice(bytes).map_err(|error| format!("bad request: {error}"))?;
        let check = |what: &str, items: &[u32]| match items.iter().find(|&&item| item as usize >= n_items) {
            Some(item) => Err(format!("{what} {item} out of range (n_items = {n_items})")),
            None => Ok(()),
        };
        match &request {
            Request::Scores { history } => check("history item", history)?,
            Request::Explain { history, items } => {
                check("history item", history)?;
                check("item", items)?;
            }
            Request::Similar { item, .. } => check("item", &[*item])?,
        }
        Ok(request)
    }

    /// The response bytes.
    pub(crate) fn answer(self, model: &dyn Recommender) -> Result<Vec<u8>, String> {
        match self {
            Request::Scores { history } => Ok(encode_f32s(&model.scores(&history))),
            Request::Explain { history, items } => {
                let answers: Vec<Explanation> =
                    items.into_iter().map(|item| Explanation { item, because: model.because(&history, item) }).collect();
                Ok(serde_json::to_vec(&answers).expect("explanations serialise"))
            }
            Request::Similar { item, k } => {
                let neighbours: Vec<Neighbour> =
                    model.similar(item, k)?.into_iter().map(|(item, score)| Neighbour { item, score }).collect();
                Ok(serde_json::to_vec(&neighbours).expect("neighbours serialise"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_parsed_and_checked() {
        assert!(
            matches!(Request::parse(br#"{"op":"scores","history":[1,2]}"#, 3).unwrap(), Request::Scores { history } if history == [1, 2])
        );
        assert!(matches!(Request::parse(br#"{"op":"similar","item":0,"k":4}"#, 3).unwrap(), Request::Similar { item: 0, k: 4 }));
        let refused = |request: &str| Request::parse(request.as_bytes(), 3).unwrap_err();
        assert!(refused(r#"{"op":"train"}"#).contains("unknown variant `train`"));
        assert!(refused(r#"{"history":[]}"#).contains("missing field `op`"));
        assert!(refused(r#"{"op":"scores","history":[],"extra":1}"#).contains("unknown field `extra`"));
        assert!(refused(r#"{"op":"scores","history":[0,3]}"#).contains("history item 3 out of range (n_items = 3)"));
        assert!(refused(r#"{"op":"explain","history":[0],"items":[7]}"#).contains("item 7 out of range"));
        assert!(refused(r#"{"op":"similar","item":3,"k":1}"#).contains("item 3 out of range"));
        assert!(refused("not json").contains("bad request"));
    }
}

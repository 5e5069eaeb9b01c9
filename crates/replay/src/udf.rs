//! titlesim's scoring as DataFusion scalar functions, called on whole Arrow batches:
//!
//! - `title_cosine(product, gt [, model])`: the cosine of the two titles' embeddings, as
//!   `titlesim score` computes it (prompts, GT store, blank-title rule); `model` is
//!   `'canonical'` (the default) or `'shadow'`.
//! - `title_pass(product, gt [, model])`: the verdict `titlesim score` gives the pair, the
//!   cosine at or above the model's threshold compared in f32 (`title_cosine(...) >= 0.7`
//!   compares with the f64 0.7, which the f32 0.7 falls just short of);
//! - `title_embedding(text [, model [, side]])`: the embedding of a title (a list of floats),
//!   `side` `'gt'` (the default: precomputing a catalogue) or `'product'` (the side's prompt).
//!
//! Each call embeds the batch's distinct titles in one model call. Calls from DataFusion's
//! partitions take turns on each model (its own threads do the work), so partitions and model
//! threads never multiply. With [`TitleModels::one_turn`] (a thread budget both models share)
//! the two models take turns too, as `replay` runs them one after the other.
//!
//! Arguments of any scalar type are cast to text (a number column read from JSON or Parquet); a nested one (a list, a struct) is refused. A NULL
//! title is scored as an empty one by `title_cosine` (the blank-title rule: an empty CSV field
//! is read as NULL), and gives a NULL vector from `title_embedding` (no title, no vector). A
//! title with a NUL byte or over [`titlesim_core::MAX_TITLE_BYTES`] is an error naming the
//! argument and the row, as [`titlesim_core::check_title`] says for every input path.

use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float32Array, Float32Builder, ListBuilder,
};
use datafusion::arrow::compute::{can_cast_types, cast};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::{exec_err, plan_err, ScalarValue};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;
use titlesim_core::{check_title, CosineScorer, Pair, Scorer, Side};

/// The models the functions score with: the configuration's canonical one and, when it has
/// one, its shadow.
pub struct TitleModels {
    canonical: CosineScorer,
    shadow: Option<CosineScorer>,
    /// One call at a time per model (canonical, shadow).
    turns: [Mutex<()>; 2],
    /// Both models take the canonical model's turn ([`TitleModels::one_turn`]).
    one_turn: bool,
}

impl std::fmt::Debug for TitleModels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TitleModels")
            .field("canonical", &self.canonical.info().model)
            .field("shadow", &self.shadow.as_ref().map(|s| &s.info().model))
            .finish()
    }
}

impl TitleModels {
    /// The functions' models.
    pub fn new(canonical: CosineScorer, shadow: Option<CosineScorer>) -> Self {
        TitleModels {
            canonical,
            shadow,
            turns: [Mutex::new(()), Mutex::new(())],
            one_turn: false,
        }
    }

    /// The two models share one turn: when both compute on one thread budget (`--threads N`),
    /// a canonical call and a shadow call at once would run 2 N threads.
    pub fn one_turn(mut self) -> Self {
        self.one_turn = true;
        self
    }

    /// The scorer a `model` argument names, and its turn lock.
    fn pick(&self, model: &str) -> DfResult<(&CosineScorer, &Mutex<()>)> {
        let shadow_turn = &self.turns[usize::from(!self.one_turn)];
        match model {
            "canonical" => Ok((&self.canonical, &self.turns[0])),
            "shadow" => match &self.shadow {
                Some(s) => Ok((s, shadow_turn)),
                None => plan_err!("model 'shadow': the configuration has no [shadow] table"),
            },
            other => plan_err!("unknown model {other:?}: use 'canonical' or 'shadow'"),
        }
    }
}

/// Waits for `f` from inside a DataFusion function (synchronous code, perhaps on a runtime
/// thread): on a multi-threaded tokio runtime the thread hands its other tasks over while it
/// waits; elsewhere the future is simply driven to completion here.
fn wait<F: Future>(f: F) -> F::Output {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| h.block_on(f))
        }
        _ => futures::executor::block_on(f),
    }
}

/// Runs `f` in the model's turn.
fn in_turn<T>(turn: &Mutex<()>, f: impl FnOnce() -> T) -> T {
    let _g = turn.lock().unwrap_or_else(|p| p.into_inner());
    f()
}

/// A constant text argument (`'shadow'`), or an error naming it.
fn constant(args: &[ColumnarValue], i: usize, name: &str, default: &str) -> DfResult<String> {
    match args.get(i) {
        None => Ok(default.to_string()),
        Some(ColumnarValue::Scalar(v)) => match v {
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)) => Ok(s.clone()),
            other => plan_err!("the {name} argument must be a text constant, not {other}"),
        },
        Some(ColumnarValue::Array(_)) => {
            plan_err!("the {name} argument must be a constant ('...'), not a column")
        }
    }
}

/// The values of a text argument, `None` where null.
fn texts(v: &ColumnarValue, rows: usize) -> DfResult<Vec<Option<String>>> {
    let a: ArrayRef = v.to_array(rows)?;
    let a = cast(&a, &DataType::Utf8)?;
    let s = a.as_string::<i32>();
    Ok((0..s.len())
        .map(|i| (!s.is_null(i)).then(|| s.value(i).to_string()))
        .collect())
}

/// Refuses a title [`check_title`] refuses (a NUL byte, over 64 KiB): an error naming the
/// function, its argument, the row of the batch and the title's start.
fn check_titles(function: &str, field: &'static str, values: &[Option<String>]) -> DfResult<()> {
    for (i, v) in values.iter().enumerate() {
        let Some(v) = v else { continue };
        if let Err(e) = check_title(field, v) {
            let start: String = v.chars().take(40).collect();
            let more = if start.len() < v.len() { "..." } else { "" };
            return exec_err!(
                "{function}: the {field} argument of row {} of its batch ({start:?}{more}): {}",
                i + 1,
                e.problem
            );
        }
    }
    Ok(())
}

/// The argument types a function of `names` arguments (the first `required`) is called with:
/// text as it is, any other scalar cast to text; a nested type, or a wrong count, is refused.
fn text_arguments(
    function: &str,
    names: &[&str],
    required: usize,
    types: &[DataType],
) -> DfResult<Vec<DataType>> {
    if types.len() < required || types.len() > names.len() {
        return plan_err!(
            "{function} takes {} to {} arguments ({}), not {}",
            required,
            names.len(),
            names.join(", "),
            types.len()
        );
    }
    types
        .iter()
        .zip(names)
        .map(|(t, name)| match t {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Ok(t.clone()),
            t if !t.is_nested() && can_cast_types(t, &DataType::Utf8) => Ok(DataType::Utf8),
            t => plan_err!(
                "{function}: the {name} argument is {t}, not text; pass a text column \
                 (CAST(x AS VARCHAR) where the value can be written as text)"
            ),
        })
        .collect()
}

fn core_err(e: titlesim_core::Error) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// `title_cosine(product, gt [, model])`, or with `verdict` `title_pass(product, gt [, model])`.
#[derive(Debug)]
struct TitleCosine {
    models: Arc<TitleModels>,
    signature: Signature,
    /// `title_pass`: the verdict (`cosine >= threshold` in f32, as the scorer judges), not
    /// the cosine.
    verdict: bool,
}

/// `title_embedding(text [, model [, side]])`.
#[derive(Debug)]
struct TitleEmbedding {
    models: Arc<TitleModels>,
    signature: Signature,
}

// Two functions are the same when they are of the same models.
macro_rules! same_models {
    ($t:ty) => {
        impl PartialEq for $t {
            fn eq(&self, other: &Self) -> bool {
                Arc::ptr_eq(&self.models, &other.models)
            }
        }
        impl Eq for $t {}
        impl Hash for $t {
            fn hash<H: Hasher>(&self, state: &mut H) {
                (Arc::as_ptr(&self.models) as usize).hash(state);
            }
        }
    };
}
same_models!(TitleCosine);
same_models!(TitleEmbedding);

impl ScalarUDFImpl for TitleCosine {
    fn name(&self) -> &str {
        if self.verdict {
            "title_pass"
        } else {
            "title_cosine"
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(if self.verdict {
            DataType::Boolean
        } else {
            DataType::Float32
        })
    }

    fn coerce_types(&self, types: &[DataType]) -> DfResult<Vec<DataType>> {
        text_arguments(self.name(), &["product", "gt", "model"], 2, types)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let rows = args.number_rows;
        let model = constant(&args.args, 2, "model", "canonical")?;
        let (scorer, turn) = self.models.pick(&model)?;
        let products = texts(&args.args[0], rows)?;
        let gts = texts(&args.args[1], rows)?;
        check_titles(self.name(), "product", &products)?;
        check_titles(self.name(), "gt", &gts)?;
        // A null title is scored as an empty one, as `titlesim score` scores a blank title
        // (cosine 0 by default): a CSV reader turns an empty field into a null.
        let pairs: Vec<Pair> = products
            .into_iter()
            .zip(gts)
            .enumerate()
            .map(|(i, (p, g))| {
                Pair::new(i.to_string(), p.unwrap_or_default(), g.unwrap_or_default())
            })
            .collect();
        let scores = in_turn(turn, || wait(scorer.score_batch(&pairs))).map_err(core_err)?;
        if scores.len() != rows {
            return Err(DataFusionError::Internal(format!(
                "{} lost a row's place",
                self.name()
            )));
        }
        if self.verdict {
            let out: Vec<bool> = scores.iter().map(|s| s.pass).collect();
            return Ok(ColumnarValue::Array(Arc::new(BooleanArray::from(out))));
        }
        let out: Vec<f32> = scores.iter().map(|s| s.cosine).collect();
        Ok(ColumnarValue::Array(Arc::new(Float32Array::from(out))))
    }
}

impl ScalarUDFImpl for TitleEmbedding {
    fn name(&self) -> &str {
        "title_embedding"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::List(Arc::new(Field::new_list_field(
            DataType::Float32,
            true,
        ))))
    }

    fn coerce_types(&self, types: &[DataType]) -> DfResult<Vec<DataType>> {
        text_arguments("title_embedding", &["text", "model", "side"], 1, types)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let rows = args.number_rows;
        let model = constant(&args.args, 1, "model", "canonical")?;
        let side = match constant(&args.args, 2, "side", "gt")?.as_str() {
            "gt" => Side::Gt,
            "product" => Side::Product,
            other => return exec_err!("unknown side {other:?}: use 'gt' or 'product'"),
        };
        let (scorer, turn) = self.models.pick(&model)?;
        let values = texts(&args.args[0], rows)?;
        check_titles("title_embedding", "text", &values)?;
        let present: Vec<&str> = values.iter().flatten().map(String::as_str).collect();
        let vecs = in_turn(turn, || wait(scorer.embed_side(side, &present))).map_err(core_err)?;
        let mut vecs = vecs.into_iter();
        let mut b = ListBuilder::new(Float32Builder::new());
        for v in &values {
            match v {
                Some(_) => {
                    let e = vecs.next().ok_or_else(|| {
                        DataFusionError::Internal("title_embedding lost a vector".into())
                    })?;
                    b.values().append_slice(&e);
                    b.append(true);
                }
                None => b.append(false),
            }
        }
        Ok(ColumnarValue::Array(Arc::new(b.finish())))
    }
}

/// Registers `title_cosine`, `title_pass` and `title_embedding` of `models` in `ctx`.
pub fn register(ctx: &SessionContext, models: Arc<TitleModels>) {
    for verdict in [false, true] {
        ctx.register_udf(ScalarUDF::from(TitleCosine {
            models: models.clone(),
            signature: Signature::user_defined(Volatility::Immutable),
            verdict,
        }));
    }
    ctx.register_udf(ScalarUDF::from(TitleEmbedding {
        models,
        signature: Signature::user_defined(Volatility::Immutable),
    }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use titlesim_core::{Embedder, EmbedderInfo};

    /// Counts the calls in flight across every model it backs, and the most at once.
    struct Busy {
        info: EmbedderInfo,
        now: Arc<AtomicUsize>,
        most: Arc<AtomicUsize>,
    }

    #[async_trait]
    impl Embedder for Busy {
        fn info(&self) -> &EmbedderInfo {
            &self.info
        }
        async fn embed(&self, texts: &[String]) -> titlesim_core::Result<Vec<Vec<f32>>> {
            let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(n, Ordering::SeqCst);
            // wait (a while) for the other model's call to come in beside this one
            let t0 = std::time::Instant::now();
            while self.now.load(Ordering::SeqCst) < 2 && t0.elapsed().as_millis() < 300 {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            self.most
                .fetch_max(self.now.load(Ordering::SeqCst), Ordering::SeqCst);
            self.now.fetch_sub(1, Ordering::SeqCst);
            Ok(texts.iter().map(|t| vec![t.len() as f32, 1.0]).collect())
        }
    }

    /// The most model calls in flight at once while a canonical and a shadow call are made
    /// from two threads, twice each (each call waits up to 300 ms for the other to join it).
    fn most_at_once(one_turn: bool) -> usize {
        let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let scorer = |name: &str| {
            let e = Busy {
                info: EmbedderInfo {
                    model: name.into(),
                    backend: "test".into(),
                    dim: 2,
                    fingerprint: format!("ts1-{name}"),
                    normalize: false,
                },
                now: now.clone(),
                most: most.clone(),
            };
            CosineScorer::new(Arc::new(e), 0.5)
        };
        let mut models = TitleModels::new(scorer("canonical"), Some(scorer("shadow")));
        if one_turn {
            models = models.one_turn();
        }
        let models = Arc::new(models);
        let calls: Vec<_> = ["canonical", "shadow"]
            .into_iter()
            .map(|which| {
                let models = models.clone();
                std::thread::spawn(move || {
                    for i in 0..2 {
                        let (s, turn) = models.pick(which).unwrap();
                        let pairs = [Pair::new(format!("{i}"), format!("a{i}"), "bb")];
                        in_turn(turn, || wait(s.score_batch(&pairs))).unwrap();
                    }
                })
            })
            .collect();
        for c in calls {
            c.join().unwrap();
        }
        most.load(Ordering::SeqCst)
    }

    #[test]
    fn one_thread_budget_makes_the_two_models_take_turns() {
        assert_eq!(most_at_once(true), 1);
        assert_eq!(most_at_once(false), 2);
    }
}

//! Which attributes a read returns: `ProjectionExpression` or legacy `AttributesToGet`.

use flywheel_expr::legacy::{self, parameters};
use flywheel_expr::{DocumentPath, Resolver};
use flywheel_protocol::model::Names;
use flywheel_protocol::ApiError;
use flywheel_types::Item;

use crate::conditions::expr_error;

/// A resolved projection; `None` paths return whole items.
pub struct Projection {
    paths: Option<Vec<DocumentPath>>,
}

impl Projection {
    /// Everything.
    pub fn all() -> Projection {
        Projection { paths: None }
    }

    /// Exactly these document paths.
    pub fn paths(paths: Vec<DocumentPath>) -> Projection {
        Projection { paths: Some(paths) }
    }

    /// GetItem's projection.
    pub fn for_get(
        projection_expression: &Option<String>,
        attributes_to_get: &Option<Vec<String>>,
        names: &Option<Names>,
    ) -> Result<Projection, ApiError> {
        let expression: Vec<&str> =
            if projection_expression.is_some() { parameters::GET_ITEM_EXPRESSION.to_vec() } else { vec![] };
        let legacy_params: Vec<&str> =
            if attributes_to_get.is_some() { parameters::GET_ITEM_LEGACY.to_vec() } else { vec![] };
        legacy::check_parameters(&expression, &legacy_params, names.is_some(), false).map_err(expr_error)?;
        let mut resolver = Resolver::new(names.as_ref(), None).map_err(expr_error)?;
        if let Some(text) = projection_expression {
            let p = flywheel_expr::parse_projection(text, &mut resolver).map_err(expr_error)?;
            resolver.check_unused().map_err(expr_error)?;
            return Ok(Projection { paths: Some(p.paths) });
        }
        match attributes_to_get {
            Some(names) => Ok(Projection { paths: Some(legacy::attributes_to_get(names).map_err(expr_error)?.paths) }),
            None => Ok(Projection::all()),
        }
    }

    /// The projected item.
    pub fn apply(&self, item: Item) -> Item {
        match &self.paths {
            None => item,
            Some(paths) => flywheel_expr::project_paths(&item, paths),
        }
    }
}

//! UpdateItem: UpdateExpression or legacy AttributeUpdates, with a condition, on an existing or
//! new item, under the partition's writer.

use flywheel_expr::UpdateOutcome;
use flywheel_protocol::constraints::Constraints;
use flywheel_protocol::model::{ItemOutput, UpdateItemInput};
use flywheel_protocol::ApiError;
use flywheel_types::limits::ITEM_SIZE_BYTES_MAX;
use flywheel_types::{item_size_bytes, validate_value, Item};

use crate::capacity::{consumed, write_units};
use crate::conditions::{self, expr_error};
use crate::items::{check, key_from_key_param, write_options, Mutation};
use crate::{Engine, RequestContext};

#[derive(Clone, Copy, PartialEq, Eq)]
enum ReturnValues {
    None,
    AllOld,
    UpdatedOld,
    AllNew,
    UpdatedNew,
}

/// What DynamoDB checks of an item after an update: value rules and the 400 KB limit.
pub(crate) fn validate_updated_item(item: &Item) -> Result<(), ApiError> {
    for v in item.values() {
        validate_value(v).map_err(|e| ApiError::validation(e.0))?;
    }
    if item_size_bytes(item) > ITEM_SIZE_BYTES_MAX {
        return Err(ApiError::validation("Item size to update has exceeded the maximum allowed size"));
    }
    Ok(())
}

/// DynamoDB creates an item only when an update gives it an attribute: REMOVE and DELETE
/// actions on a missing item leave it missing (no item, no stream record), while an update with
/// no actions at all still creates the key-only item. `item` is the missing item's key after the
/// update was applied; only SET and ADD can have added anything to it.
pub(crate) fn creates_nothing(old: Option<&Item>, item: &Item, key: &Item) -> bool {
    old.is_none() && item.len() == key.len()
}

impl Engine {
    pub async fn update_item(&self, ctx: &RequestContext, input: UpdateItemInput) -> Result<ItemOutput, ApiError> {
        let mut c = Constraints::new();
        c.required("key", &input.key);
        c.table_name("tableName", &input.table_name);
        c.one_of("returnValues", &input.return_values, &["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"]);
        let (capacity, return_old_on_failure) = write_options(
            &mut c,
            &input.return_consumed_capacity,
            &input.return_item_collection_metrics,
            &input.return_values_on_condition_check_failure,
        );
        c.finish()?;
        let return_values = match input.return_values.as_deref() {
            Some("ALL_OLD") => ReturnValues::AllOld,
            Some("UPDATED_OLD") => ReturnValues::UpdatedOld,
            Some("ALL_NEW") => ReturnValues::AllNew,
            Some("UPDATED_NEW") => ReturnValues::UpdatedNew,
            _ => ReturnValues::None,
        };
        let (condition, update) = conditions::for_update(
            &input.update_expression,
            &input.attribute_updates,
            &input.condition_expression,
            &input.expected,
            &input.conditional_operator,
            &input.expression_attribute_names,
            &input.expression_attribute_values,
        )?;
        let table = self.get_item_table(ctx, &input.table_name)?;
        let key = key_from_key_param(&table.key, input.key.as_ref().unwrap_or(&Item::new()))?;
        let mut applied: Option<UpdateOutcome> = None;
        let outcome = self
            .write_item(&table, &key, |old| {
                check(&condition, old, return_old_on_failure)?;
                let mut item = old.cloned().unwrap_or_else(|| key.attributes.clone());
                if let Some(update) = &update {
                    applied =
                        Some(flywheel_expr::apply_update(update, &mut item, &table.key.names()).map_err(expr_error)?);
                    if creates_nothing(old, &item, &key.attributes) {
                        return Ok(None);
                    }
                }
                validate_updated_item(&item)?;
                Ok(Some(Mutation::Put(item)))
            })
            .await?;
        let old_size = outcome.old.as_ref().map_or(0, item_size_bytes);
        let new_size = outcome.new.as_ref().map_or(0, item_size_bytes);
        let attributes = match return_values {
            ReturnValues::None => None,
            ReturnValues::AllOld => outcome.old,
            ReturnValues::AllNew => outcome.new,
            ReturnValues::UpdatedOld => match (&applied, &outcome.old) {
                (Some(a), Some(old)) => Some(a.updated_old(old)),
                _ => None,
            },
            ReturnValues::UpdatedNew => match (&applied, &outcome.new) {
                (Some(a), Some(new)) => Some(a.updated_new(new)),
                _ => None,
            },
        }
        .filter(|i| !i.is_empty());
        let table_name = table.meta.read().name.clone();
        Ok(ItemOutput {
            attributes,
            item: None,
            consumed_capacity: consumed(&table_name, write_units(old_size.max(new_size)), capacity),
            item_collection_metrics: crate::items::collection_metrics(
                &table,
                &key,
                &input.return_item_collection_metrics,
            )?,
        })
    }
}

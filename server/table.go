package server

import (
	"context"
	"strings"

	"github.com/ktgrpc/ktgrpc/backend"
	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
)

type tableService struct {
	ktgrpcv1.UnimplementedTableServer
	s *Server
}

// putModes converts the API's put modes; unspecified means overwrite.
func putModes() map[ktgrpcv1.PutMode]backend.PutMode {
	return map[ktgrpcv1.PutMode]backend.PutMode{
		ktgrpcv1.PutMode_PUT_MODE_UNSPECIFIED: backend.PutOverwrite,
		ktgrpcv1.PutMode_PUT_MODE_OVERWRITE:   backend.PutOverwrite,
		ktgrpcv1.PutMode_PUT_MODE_KEEP:        backend.PutKeep,
		ktgrpcv1.PutMode_PUT_MODE_CONCAT:      backend.PutConcat,
	}
}

// condOps converts the API's condition operators.
func condOps() map[ktgrpcv1.ConditionOperator]backend.CondOp {
	return map[ktgrpcv1.ConditionOperator]backend.CondOp{
		ktgrpcv1.ConditionOperator_CONDITION_OPERATOR_STR_EQ:          backend.CondStrEq,
		ktgrpcv1.ConditionOperator_CONDITION_OPERATOR_STR_INCLUDE:     backend.CondStrInclude,
		ktgrpcv1.ConditionOperator_CONDITION_OPERATOR_STR_BEGINS_WITH: backend.CondStrBeginsWith,
		ktgrpcv1.ConditionOperator_CONDITION_OPERATOR_STR_ENDS_WITH:   backend.CondStrEndsWith,
		ktgrpcv1.ConditionOperator_CONDITION_OPERATOR_STR_AND:         backend.CondStrAnd,
		ktgrpcv1.ConditionOperator_CONDITION_OPERATOR_STR_OR:          backend.CondStrOr,
		ktgrpcv1.ConditionOperator_CONDITION_OPERATOR_STR_OR_EQ:       backend.CondStrOrEq,
		ktgrpcv1.ConditionOperator_CONDITION_OPERATOR_STR_REGEX:       backend.CondStrRegex,
		ktgrpcv1.ConditionOperator_CONDITION_OPERATOR_NUM_EQ:          backend.CondNumEq,
		ktgrpcv1.ConditionOperator_CONDITION_OPERATOR_NUM_GT:          backend.CondNumGT,
		ktgrpcv1.ConditionOperator_CONDITION_OPERATOR_NUM_GE:          backend.CondNumGE,
		ktgrpcv1.ConditionOperator_CONDITION_OPERATOR_NUM_LT:          backend.CondNumLT,
		ktgrpcv1.ConditionOperator_CONDITION_OPERATOR_NUM_LE:          backend.CondNumLE,
		ktgrpcv1.ConditionOperator_CONDITION_OPERATOR_NUM_BETWEEN:     backend.CondNumBetween,
		ktgrpcv1.ConditionOperator_CONDITION_OPERATOR_NUM_OR_EQ:       backend.CondNumOrEq,
		ktgrpcv1.ConditionOperator_CONDITION_OPERATOR_FTS_PHRASE:      backend.CondFTSPhrase,
		ktgrpcv1.ConditionOperator_CONDITION_OPERATOR_FTS_AND:         backend.CondFTSAnd,
		ktgrpcv1.ConditionOperator_CONDITION_OPERATOR_FTS_OR:          backend.CondFTSOr,
		ktgrpcv1.ConditionOperator_CONDITION_OPERATOR_FTS_EXPRESSION:  backend.CondFTSExpression,
	}
}

// orderTypes converts the API's result orders.
func orderTypes() map[ktgrpcv1.OrderType]backend.OrderType {
	return map[ktgrpcv1.OrderType]backend.OrderType{
		ktgrpcv1.OrderType_ORDER_TYPE_STR_ASC:  backend.OrderStrAsc,
		ktgrpcv1.OrderType_ORDER_TYPE_STR_DESC: backend.OrderStrDesc,
		ktgrpcv1.OrderType_ORDER_TYPE_NUM_ASC:  backend.OrderNumAsc,
		ktgrpcv1.OrderType_ORDER_TYPE_NUM_DESC: backend.OrderNumDesc,
	}
}

// searchActions converts the API's search actions; unspecified means keys.
func searchActions() map[ktgrpcv1.SearchAction]backend.SearchAction {
	return map[ktgrpcv1.SearchAction]backend.SearchAction{
		ktgrpcv1.SearchAction_SEARCH_ACTION_UNSPECIFIED: backend.SearchKeys,
		ktgrpcv1.SearchAction_SEARCH_ACTION_KEYS:        backend.SearchKeys,
		ktgrpcv1.SearchAction_SEARCH_ACTION_GET:         backend.SearchGet,
		ktgrpcv1.SearchAction_SEARCH_ACTION_COUNT:       backend.SearchCount,
		ktgrpcv1.SearchAction_SEARCH_ACTION_DELETE:      backend.SearchDelete,
	}
}

// indexTypes converts the API's index types.
func indexTypes() map[ktgrpcv1.IndexType]backend.IndexType {
	return map[ktgrpcv1.IndexType]backend.IndexType{
		ktgrpcv1.IndexType_INDEX_TYPE_LEXICAL:  backend.IndexLexical,
		ktgrpcv1.IndexType_INDEX_TYPE_DECIMAL:  backend.IndexDecimal,
		ktgrpcv1.IndexType_INDEX_TYPE_TOKEN:    backend.IndexToken,
		ktgrpcv1.IndexType_INDEX_TYPE_QGRAM:    backend.IndexQGram,
		ktgrpcv1.IndexType_INDEX_TYPE_OPTIMIZE: backend.IndexOptimize,
		ktgrpcv1.IndexType_INDEX_TYPE_VOID:     backend.IndexVoid,
	}
}

// tabler returns the backend's table calls, or the Unimplemented status
// naming the capability.
func (t *tableService) tabler(call string) (backend.Tabler, error) {
	return feature[backend.Tabler](t.s, backend.CapTables, "Table."+call)
}

// checkColumn enforces the API's rule on column names; protobuf has already
// checked that they are UTF-8.
func checkColumn(field, name string) error {
	if strings.IndexByte(name, 0) >= 0 {
		return invalidField(field, "%s %q must not contain NUL bytes", field, name)
	}
	return nil
}

func (t *tableService) Put(ctx context.Context, req *ktgrpcv1.TablePutRequest) (*ktgrpcv1.TablePutResponse, error) {
	tb, err := t.tabler("Put")
	if err != nil {
		return nil, err
	}
	if err := t.s.checkKey("key", req.GetKey()); err != nil {
		return nil, err
	}
	mode, ok := putModes()[req.GetMode()]
	if !ok {
		return nil, invalidField("mode", "mode is %v; use one of PUT_MODE_OVERWRITE, PUT_MODE_KEEP or PUT_MODE_CONCAT", req.GetMode())
	}
	for name, v := range req.GetColumns() {
		if name == "" {
			return nil, invalidField("columns", "a column has the empty name; name every column (\"\" stands for the primary key in conditions and orders, and a row cannot have a column of that name)")
		}
		if err := checkColumn("column", name); err != nil {
			return nil, err
		}
		if err := t.s.checkValue("column "+name, v); err != nil {
			return nil, err
		}
	}
	applied, err := tb.TablePut(ctx, req.GetDb(), req.GetKey(), req.GetColumns(), mode)
	if err != nil {
		return nil, toStatus(err)
	}
	return &ktgrpcv1.TablePutResponse{Applied: applied}, nil
}

func (t *tableService) Get(ctx context.Context, req *ktgrpcv1.TableGetRequest) (*ktgrpcv1.TableGetResponse, error) {
	tb, err := t.tabler("Get")
	if err != nil {
		return nil, err
	}
	if err := t.s.checkKey("key", req.GetKey()); err != nil {
		return nil, err
	}
	cols, found, err := tb.TableGet(ctx, req.GetDb(), req.GetKey())
	if err != nil {
		return nil, toStatus(err)
	}
	if !found {
		return &ktgrpcv1.TableGetResponse{}, nil
	}
	return &ktgrpcv1.TableGetResponse{Found: true, Columns: cols}, nil
}

func (t *tableService) Search(ctx context.Context, req *ktgrpcv1.TableSearchRequest) (*ktgrpcv1.TableSearchResponse, error) {
	tb, err := t.tabler("Search")
	if err != nil {
		return nil, err
	}
	q, err := toQuery(req)
	if err != nil {
		return nil, err
	}
	res, err := tb.TableSearch(ctx, req.GetDb(), q)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &ktgrpcv1.TableSearchResponse{Keys: res.Keys, Count: res.Count}
	if len(res.Rows) > 0 {
		resp.Rows = make([]*ktgrpcv1.Row, len(res.Rows))
		for i, r := range res.Rows {
			resp.Rows[i] = &ktgrpcv1.Row{Key: r.Key, Columns: r.Columns}
		}
	}
	return resp, nil
}

func toQuery(req *ktgrpcv1.TableSearchRequest) (backend.Query, error) {
	var q backend.Query
	if req.GetLimit() < 0 {
		return q, invalidField("limit", "limit must not be negative, got %d; 0 means no limit", req.GetLimit())
	}
	if req.GetOffset() < 0 {
		return q, invalidField("offset", "offset must not be negative, got %d", req.GetOffset())
	}
	q.Limit, q.Offset = req.GetLimit(), req.GetOffset()
	for i, c := range req.GetConditions() {
		field := indexed("conditions", i)
		op, ok := condOps()[c.GetOperator()]
		if !ok {
			return q, invalidField(field+".operator", "%s.operator is %v; name a comparison such as CONDITION_OPERATOR_STR_EQ", field, c.GetOperator())
		}
		if err := checkColumn(field+".column", c.GetColumn()); err != nil {
			return q, err
		}
		q.Conditions = append(q.Conditions, backend.Condition{
			Column:  c.GetColumn(),
			Op:      op,
			Expr:    c.GetExpr(),
			Negate:  c.GetNegate(),
			NoIndex: c.GetNoIndex(),
		})
	}
	if o := req.GetOrder(); o != nil {
		typ, ok := orderTypes()[o.GetType()]
		if !ok {
			return q, invalidField("order.type", "order.type is %v; use one of ORDER_TYPE_STR_ASC, ORDER_TYPE_STR_DESC, ORDER_TYPE_NUM_ASC or ORDER_TYPE_NUM_DESC, or leave order unset", o.GetType())
		}
		if err := checkColumn("order.column", o.GetColumn()); err != nil {
			return q, err
		}
		q.HasOrder, q.OrderColumn, q.Order = true, o.GetColumn(), typ
	}
	action, ok := searchActions()[req.GetAction()]
	if !ok {
		return q, invalidField("action", "action is %v; use one of SEARCH_ACTION_KEYS, SEARCH_ACTION_GET, SEARCH_ACTION_COUNT or SEARCH_ACTION_DELETE", req.GetAction())
	}
	q.Action = action
	for i, c := range req.GetColumns() {
		if err := checkColumn(indexed("columns", i), c); err != nil {
			return q, err
		}
	}
	q.Columns = req.GetColumns()
	return q, nil
}

func (t *tableService) SetIndex(ctx context.Context, req *ktgrpcv1.TableSetIndexRequest) (*ktgrpcv1.TableSetIndexResponse, error) {
	tb, err := t.tabler("SetIndex")
	if err != nil {
		return nil, err
	}
	typ, ok := indexTypes()[req.GetType()]
	if !ok {
		return nil, invalidField("type", "type is %v; name an index type such as INDEX_TYPE_LEXICAL, or INDEX_TYPE_OPTIMIZE / INDEX_TYPE_VOID", req.GetType())
	}
	if err := checkColumn("column", req.GetColumn()); err != nil {
		return nil, err
	}
	applied, err := tb.TableSetIndex(ctx, req.GetDb(), req.GetColumn(), typ, req.GetKeep())
	if err != nil {
		return nil, toStatus(err)
	}
	return &ktgrpcv1.TableSetIndexResponse{Applied: applied}, nil
}

func (t *tableService) GenerateID(ctx context.Context, req *ktgrpcv1.TableGenerateIDRequest) (*ktgrpcv1.TableGenerateIDResponse, error) {
	tb, err := t.tabler("GenerateID")
	if err != nil {
		return nil, err
	}
	id, err := tb.TableGenerateID(ctx, req.GetDb())
	if err != nil {
		return nil, toStatus(err)
	}
	return &ktgrpcv1.TableGenerateIDResponse{Id: id}, nil
}

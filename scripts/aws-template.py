#!/usr/bin/env python3
"""Writes deploy/aws/cloudformation-msk-websocket.yaml to stdout.

The template repeats itself (14 tables, 15 functions with one environment, 6 mappings, 27
alarms), so its repeated parts are written here from lists, and its one-of-a-kind parts are
the fragments in deploy/aws/template/ (header.yaml: parameters, network, secrets, MSK, SNS,
S3; roles.yaml: IAM; footer.yaml: dashboard, outputs). Edit those, then:

    python3 scripts/aws-template.py > deploy/aws/cloudformation-msk-websocket.yaml

scripts/check-deploy.sh fails when the committed template differs from what this writes.
The tables mirror docs/dynamodb-tables.md (the DynamoDB store's table_definitions).
"""
import os
import sys

FRAGMENTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "deploy", "aws", "template")


def fragment(name):
    with open(os.path.join(FRAGMENTS, name), encoding="utf-8") as f:
        return f.read()

TOPICS = ["user-info-submitted", "documents-processed", "kyc-verified",
          "policy-recommended", "workflow-completed", "workflow-errors"]
def camel(s): return "".join(p.capitalize() for p in s.replace("_", "-").split("-"))

# (logical key, variable, default name, pk, sk, gsis[(name, pk, sk)], ttl)
TABLES = [
 ("users", "USERS_TABLE", "users", ("customerId","S"), None, [], None),
 ("applications", "APPLICATIONS_TABLE", "applications", ("applicationId","S"), None,
   [("customerId-createdKey", ("customerId","S"), ("createdKey","S")),
    ("inProgressStatus-updatedAt", ("inProgressStatus","S"), ("updatedAt","N"))], None),
 ("kyc_results", "KYC_RESULTS_TABLE", "kyc-results", ("applicationId","S"), ("checkedKey","S"), [], None),
 ("audit", "AUDIT_TABLE", "audit-logs", ("customerId","S"), ("auditKey","S"), [], None),
 ("websocket", "WEBSOCKET_TABLE", "websocket-connections", ("connectionId","S"), None,
   [("customerId-connectedKey", ("customerId","S"), ("connectedKey","S"))], "ttl"),
 ("events", "EVENTS_TABLE", "onboard-events", ("eventId","S"), None,
   [("customerId-sequence", ("customerId","S"), ("sequence","N")),
    ("applicationId-sequence", ("applicationId","S"), ("sequence","N")),
    ("feed-occurredKey", ("feed","S"), ("occurredKey","S"))], None),
 ("outbox", "OUTBOX_TABLE", "onboard-outbox", ("stream","S"), ("seq","N"), [], None),
 ("idempotency", "IDEMPOTENCY_TABLE", "onboard-idempotency", ("claim","S"), None, [], "expiresAt"),
 ("notifications", "NOTIFICATIONS_TABLE", "onboard-notifications", ("notificationId","S"), None,
   [("dueShard-nextAttemptAt", ("dueShard","S"), ("nextAttemptAt","N"))], None),
 ("documents", "DOCUMENTS_TABLE", "onboard-documents", ("applicationId","S"), ("documentKey","S"), [], None),
 ("recommendations", "RECOMMENDATIONS_TABLE", "onboard-recommendations", ("applicationId","S"), None, [], None),
 ("projections", "PROJECTIONS_TABLE", "onboard-projections", ("applicationId","S"), None, [], None),
 ("counters", "COUNTERS_TABLE", "onboard-counters", ("counter","S"), None, [], None),
 ("operations", "OPERATIONS_TABLE", "onboard-operations", ("opKey","S"), ("opSort","S"), [], None),
]
def table_res(key): return camel(key) + "Table"

# (logical id, Handler, function name stem, role, extra env)
PRODUCERS = [("SubmitUserInfo", "submit-user-info", "submit-user-info"),
             ("ProcessDocuments", "process-documents", "process-documents"),
             ("VerifyKyc", "verify-kyc", "verify-kyc"),
             ("RecommendPolicy", "recommend-policy", "recommend-policy"),
             ("CompleteWorkflow", "complete-workflow", "complete-workflow")]
WEBSOCKET = [("WebSocketConnect", "ws-connect", "websocket-connect", "$connect", "Connect"),
             ("WebSocketDisconnect", "ws-disconnect", "websocket-disconnect", "$disconnect", "Disconnect"),
             ("WebSocketDefault", "ws-default", "websocket-default", "$default", "Default")]

out = []
w = out.append

def env_block(indent, extra):
    p = " " * indent
    lines = [f"{p}Variables:",
             f"{p}  ENVIRONMENT: !Ref Environment",
             f"{p}  ONBOARD_DATA_DIR: /tmp/onboard",
             f"{p}  ONBOARD_LOG_FORMAT: json",
             f"{p}  ONBOARD_STORE: dynamodb"]
    for key, var, *_ in TABLES:
        lines.append(f"{p}  {var}: !Ref {table_res(key)}")
    lines += [
        f"{p}  KAFKA_BROKERS: !GetAtt KafkaBootstrapBrokers.SaslScram",
        f"{p}  KAFKA_USERNAME: !Ref KafkaUsername",
        f"{p}  KAFKA_PASSWORD: !Sub '{{{{resolve:secretsmanager:${{KafkaSecret}}:SecretString:password}}}}'",
        f"{p}  KAFKA_SECURITY_PROTOCOL: SASL_SSL",
        f"{p}  KAFKA_SASL_MECHANISM: SCRAM-SHA-512",
        f"{p}  ONBOARD_REPLICATION_FACTOR: '3'",
        f"{p}  WEBSOCKET_ENDPOINT: !Sub 'wss://${{WebSocketApi}}.execute-api.${{AWS::Region}}.amazonaws.com/${{Environment}}'",
        f"{p}  SNS_TOPIC_ARN: !Ref NotificationsTopic",
        f"{p}  ONBOARD_NOTIFIER: sns",
        f"{p}  ONBOARD_DOCUMENTS: s3",
        f"{p}  ONBOARD_DOCUMENTS_BUCKET: !Ref DocumentsBucket",
        f"{p}  ONBOARD_OPERATOR_EMAIL: !If [HasOperatorEmail, !Ref OperatorEmail, !Ref AWS::NoValue]",
        f"{p}  ONBOARD_JWT_SECRET: !Sub '{{{{resolve:secretsmanager:${{JwtSecret}}:SecretString}}}}'",
    ]
    for k, v in extra:
        lines.append(f"{p}  {k}: {v}")
    return "\n".join(lines)

def function(logical, handler, name_stem, role, extra_env=(), timeout=30, memory=512, desc=""):
    name = f"onboard-ai-{name_stem}-${{Environment}}"
    w(f"""
  {logical}LogGroup:
    Type: AWS::Logs::LogGroup
    DeletionPolicy: Delete
    UpdateReplacePolicy: Delete
    Properties:
      LogGroupName: !Sub '/aws/lambda/{name}'
      RetentionInDays: !Ref LogRetentionDays

  {logical}Function:
    Type: AWS::Lambda::Function
    DependsOn: {logical}LogGroup
    Properties:
      FunctionName: !Sub '{name}'
      Description: {desc}
      Runtime: provided.al2023
      Architectures: [x86_64]
      Handler: {handler}
      Code:
        S3Bucket: !Ref CodeBucket
        S3Key: !Ref CodeKey
      Role: !GetAtt {role}.Arn
      Timeout: {timeout}
      MemorySize: {memory}
      VpcConfig:
        SubnetIds: !Ref SubnetIds
        SecurityGroupIds: [!Ref LambdaSecurityGroup]
      Environment:
{env_block(8, extra_env)}
""")

def errors_alarm(logical, name_stem):
    w(f"""
  {logical}ErrorsAlarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      AlarmName: !Sub 'onboard-ai-{name_stem}-errors-${{Environment}}'
      AlarmDescription: The function failed invocations (see its log group).
      Namespace: AWS/Lambda
      MetricName: Errors
      Dimensions:
        - Name: FunctionName
          Value: !Ref {logical}Function
      Statistic: Sum
      Period: 300
      EvaluationPeriods: 1
      Threshold: 0
      ComparisonOperator: GreaterThanThreshold
      TreatMissingData: notBreaching
      AlarmActions: [!Ref AlarmsTopic]
""")

HEADER = fragment("header.yaml")
w(HEADER.rstrip("\n") + "\n")

# ---- DynamoDB
w("\n  # ---- DynamoDB tables (docs/dynamodb-tables.md; on-demand, encrypted, point-in-time recovery)\n")
for key, var, default, pk, sk, gsis, ttl in TABLES:
    attrs = {pk[0]: pk[1]}
    if sk: attrs[sk[0]] = sk[1]
    for _, gpk, gsk in gsis:
        attrs[gpk[0]] = gpk[1]; attrs[gsk[0]] = gsk[1]
    s = f"""
  {table_res(key)}:
    Type: AWS::DynamoDB::Table
    DeletionPolicy: Retain
    UpdateReplacePolicy: Retain
    Properties:
      TableName: !Sub '{default}-${{Environment}}'
      BillingMode: PAY_PER_REQUEST
      SSESpecification:
        SSEEnabled: true
      PointInTimeRecoverySpecification:
        PointInTimeRecoveryEnabled: true
      AttributeDefinitions:
"""
    for n, t in attrs.items():
        s += f"        - AttributeName: {n}\n          AttributeType: {t}\n"
    s += f"      KeySchema:\n        - AttributeName: {pk[0]}\n          KeyType: HASH\n"
    if sk:
        s += f"        - AttributeName: {sk[0]}\n          KeyType: RANGE\n"
    if gsis:
        s += "      GlobalSecondaryIndexes:\n"
        for gname, gpk, gsk in gsis:
            s += (f"        - IndexName: {gname}\n          KeySchema:\n"
                  f"            - AttributeName: {gpk[0]}\n              KeyType: HASH\n"
                  f"            - AttributeName: {gsk[0]}\n              KeyType: RANGE\n"
                  f"          Projection:\n            ProjectionType: ALL\n")
    if ttl:
        s += f"      TimeToLiveSpecification:\n        AttributeName: {ttl}\n        Enabled: true\n"
    w(s)

# ---- IAM: table access per role
def table_arns(keys, indent=12):
    p = " " * indent
    lines = []
    for k in keys:
        lines.append(f"{p}- !GetAtt {table_res(k)}.Arn")
        if any(t[0] == k and t[5] for t in TABLES):
            lines.append(f"{p}- !Sub '${{{table_res(k)}.Arn}}/index/*'")
    return "\n".join(lines)

ALL_TABLES = [t[0] for t in TABLES]
ROLES = fragment("roles.yaml")
ROLES = ROLES.replace("%ALL_TABLES%", table_arns(ALL_TABLES, 16))
w(ROLES.rstrip("\n") + "\n")

# ---- functions
w("\n  # ---- Producer functions: the five onboarding steps (API Gateway proxy events or a direct\n  # invoke with the seed's Step 7.1 payload). Each publishes its own outbox rows at once.\n")
for logical, handler, stem in PRODUCERS:
    function(logical, handler, stem, "ProducerRole", desc=f"Onboard step {handler} (Handler {handler})")
function("OutboxRelay", "relay", "outbox-relay", "RelayRole", timeout=60,
         extra_env=[("ONBOARD_STALL_AFTER", "!Ref StallAfter")],
         desc="Every minute, publishes outbox rows the steps left behind, alerts stalled applications and sends due notifications")
w("\n  # ---- Consumer functions: one per topic, fed by an MSK event source mapping.\n")
for t in TOPICS:
    function(f"Consumer{camel(t)}", "consume", f"consumer-{t}", "ConsumerRole", extra_env=[("KAFKA_TOPIC", t)],
             timeout=300, desc=f"Stores, notifies and pushes {t} events")
w("\n  # ---- WebSocket functions behind the WebSocket API.\n")
for logical, handler, stem, route, _ in WEBSOCKET:
    function(logical, handler, stem, "WebSocketRole", desc=f"WebSocket route {route}")

# ---- event source mappings
w("\n  # ---- One event source mapping per topic. TRIM_HORIZON, not the seed's LATEST: a new mapping\n"
  "  # starts polling minutes after it is created, and LATEST would skip what was produced in\n"
  "  # between; consumers are idempotent, so reading the retained history again is harmless.\n"
  "  # ConsumerGroupId must be unique among all Kafka event sources: one group per topic.\n")
for t in TOPICS:
    w(f"""
  Consumer{camel(t)}Mapping:
    Type: AWS::Lambda::EventSourceMapping
    DependsOn: KafkaScramSecrets
    Properties:
      EventSourceArn: !Ref KafkaCluster
      FunctionName: !Ref Consumer{camel(t)}Function
      Topics: [{t}]
      BatchSize: 100
      StartingPosition: TRIM_HORIZON
      AmazonManagedKafkaEventSourceConfig:
        ConsumerGroupId: onboard-ai-consumer-group-{t}
      SourceAccessConfigurations:
        - Type: SASL_SCRAM_512_AUTH
          URI: !Ref KafkaSecret
""")

# ---- relay schedule
w("""
  # ---- The relay every minute (EventBridge).
  OutboxRelaySchedule:
    Type: AWS::Events::Rule
    Properties:
      Name: !Sub 'onboard-ai-outbox-relay-${Environment}'
      Description: Publishes outbox rows left behind by a step that failed after its commit
      ScheduleExpression: rate(1 minute)
      State: ENABLED
      Targets:
        - Id: relay
          Arn: !GetAtt OutboxRelayFunction.Arn

  OutboxRelaySchedulePermission:
    Type: AWS::Lambda::Permission
    Properties:
      FunctionName: !Ref OutboxRelayFunction
      Action: lambda:InvokeFunction
      Principal: events.amazonaws.com
      SourceArn: !GetAtt OutboxRelaySchedule.Arn
""")

# ---- websocket api
w("""
  # ---- The WebSocket API (the seed's Step 6: routes, integrations and invoke permissions).
  WebSocketApi:
    Type: AWS::ApiGatewayV2::Api
    Properties:
      Name: !Sub 'onboard-ai-websocket-${Environment}'
      ProtocolType: WEBSOCKET
      RouteSelectionExpression: $request.body.action

  WebSocketStage:
    Type: AWS::ApiGatewayV2::Stage
    Properties:
      ApiId: !Ref WebSocketApi
      StageName: !Ref Environment
      AutoDeploy: true
      DefaultRouteSettings:
        ThrottlingBurstLimit: 500
        ThrottlingRateLimit: 1000
""")
for logical, handler, stem, route, short in WEBSOCKET:
    w(f"""
  WebSocket{short}Integration:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref WebSocketApi
      IntegrationType: AWS_PROXY
      IntegrationUri: !Sub 'arn:${{AWS::Partition}}:apigateway:${{AWS::Region}}:lambda:path/2015-03-31/functions/${{{logical}Function.Arn}}/invocations'

  WebSocket{short}Route:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref WebSocketApi
      RouteKey: ${route}
      AuthorizationType: NONE
      OperationName: {short}
      Target: !Sub 'integrations/${{WebSocket{short}Integration}}'

  WebSocket{short}Permission:
    Type: AWS::Lambda::Permission
    Properties:
      FunctionName: !Ref {logical}Function
      Action: lambda:InvokeFunction
      Principal: apigateway.amazonaws.com
      SourceArn: !Sub 'arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{WebSocketApi}}/*/{route}'
""".replace("RouteKey: $$", "RouteKey: $"))

# ---- alarms
w("\n  # ---- Alarms: function errors, consumer offset lag, records on a dead-letter topic.\n")
for logical, _, stem in PRODUCERS:
    errors_alarm(logical, stem)
errors_alarm("OutboxRelay", "outbox-relay")
for t in TOPICS:
    errors_alarm(f"Consumer{camel(t)}", f"consumer-{t}")
for logical, _, stem, _, _ in WEBSOCKET:
    errors_alarm(logical, stem)
for t in TOPICS:
    w(f"""
  Consumer{camel(t)}LagAlarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      AlarmName: !Sub 'onboard-ai-consumer-{t}-offset-lag-${{Environment}}'
      AlarmDescription: The {t} consumer falls behind (records not yet processed).
      Namespace: AWS/Lambda
      MetricName: OffsetLag
      Dimensions:
        - Name: FunctionName
          Value: !Ref Consumer{camel(t)}Function
      Statistic: Maximum
      Period: 300
      EvaluationPeriods: 3
      Threshold: !Ref OffsetLagThreshold
      ComparisonOperator: GreaterThanThreshold
      TreatMissingData: notBreaching
      AlarmActions: [!Ref AlarmsTopic]
""")
# DLQ: per-topic broker metrics, summed over the brokers.
for t in TOPICS:
    brokers = "\n".join(f"""        - Id: b{b}
          ReturnData: false
          MetricStat:
            Metric:
              Namespace: AWS/Kafka
              MetricName: MessagesInPerSec
              Dimensions:
                - Name: Cluster Name
                  Value: !Sub 'onboard-ai-cluster-${{Environment}}'
                - Name: Broker ID
                  Value: '{b}'
                - Name: Topic
                  Value: {t}.dlq
            Period: 300
            Stat: Maximum""" for b in (1, 2, 3))
    w(f"""
  DeadLetter{camel(t)}Alarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      AlarmName: !Sub 'onboard-ai-{t}-dead-letters-${{Environment}}'
      AlarmDescription: Records of {t} were given up on and written to {t}.dlq (onboard dlq).
      EvaluationPeriods: 1
      Threshold: 0
      ComparisonOperator: GreaterThanThreshold
      TreatMissingData: notBreaching
      AlarmActions: [!Ref AlarmsTopic]
      Metrics:
        - Id: total
          Expression: SUM(METRICS())
          ReturnData: true
{brokers}
""")

FOOTER = fragment("footer.yaml")
fn_metrics = []
for logical, _, _ in PRODUCERS:
    fn_metrics.append(logical)
fn_metrics.append("OutboxRelay")
for t in TOPICS: fn_metrics.append(f"Consumer{camel(t)}")
for logical, *_ in WEBSOCKET: fn_metrics.append(logical)
subs = "\n".join(f"          {l}: !Ref {l}Function" for l in fn_metrics)
def metric_rows(metric, names):
    return ",".join(f'["AWS/Lambda","{metric}","FunctionName","${{{n}}}"]' for n in names)
consumers = [f"Consumer{camel(t)}" for t in TOPICS]
FOOTER = (FOOTER.replace("%DASH_SUBS_FIRST%", subs.lstrip())
          .replace("%ERRORS%", metric_rows("Errors", fn_metrics))
          .replace("%DURATION%", metric_rows("Duration", [p[0] for p in PRODUCERS]))
          .replace("%LAG%", metric_rows("OffsetLag", consumers)))
w(FOOTER.rstrip("\n") + "\n")
sys.stdout.write("".join(out))
